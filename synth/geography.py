"""Geography of the synthetic world: real divisions and districts (BBS geocodes), synthetic below.

Upazila and union names are made up from common place-name parts (Rampur, Char Sonadia, ...); each
district's first upazila is its Sadar upazila, as in Bangladesh.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

DIVISIONS: Final[dict[str, str]] = {
    "10": "Barishal",
    "20": "Chattogram",
    "30": "Dhaka",
    "40": "Khulna",
    "45": "Mymensingh",
    "50": "Rajshahi",
    "55": "Rangpur",
    "60": "Sylhet",
}

#: (geocode, English name, Bangla name, older / other spellings MISs still use)
DISTRICTS: Final[tuple[tuple[str, str, str, tuple[str, ...]], ...]] = (
    ("BD1004", "Barguna", "বরগুনা", ()),
    ("BD1006", "Barishal", "বরিশাল", ("Barisal",)),
    ("BD1009", "Bhola", "ভোলা", ()),
    ("BD1042", "Jhalokati", "ঝালকাঠি", ("Jhalakathi",)),
    ("BD1078", "Patuakhali", "পটুয়াখালী", ()),
    ("BD1079", "Pirojpur", "পিরোজপুর", ()),
    ("BD2003", "Bandarban", "বান্দরবান", ()),
    ("BD2012", "Brahmanbaria", "ব্রাহ্মণবাড়িয়া", ("B. Baria",)),
    ("BD2013", "Chandpur", "চাঁদপুর", ()),
    ("BD2015", "Chattogram", "চট্টগ্রাম", ("Chittagong",)),
    ("BD2019", "Cumilla", "কুমিল্লা", ("Comilla",)),
    ("BD2022", "Cox's Bazar", "কক্সবাজার", ("Coxsbazar",)),
    ("BD2030", "Feni", "ফেনী", ()),
    ("BD2046", "Khagrachhari", "খাগড়াছড়ি", ("Khagrachari",)),
    ("BD2051", "Lakshmipur", "লক্ষ্মীপুর", ("Laxmipur",)),
    ("BD2075", "Noakhali", "নোয়াখালী", ()),
    ("BD2084", "Rangamati", "রাঙ্গামাটি", ()),
    ("BD3026", "Dhaka", "ঢাকা", ()),
    ("BD3029", "Faridpur", "ফরিদপুর", ()),
    ("BD3033", "Gazipur", "গাজীপুর", ()),
    ("BD3035", "Gopalganj", "গোপালগঞ্জ", ()),
    ("BD3048", "Kishoreganj", "কিশোরগঞ্জ", ("Kishorganj",)),
    ("BD3054", "Madaripur", "মাদারীপুর", ()),
    ("BD3056", "Manikganj", "মানিকগঞ্জ", ()),
    ("BD3059", "Munshiganj", "মুন্সীগঞ্জ", ()),
    ("BD3067", "Narayanganj", "নারায়ণগঞ্জ", ()),
    ("BD3068", "Narsingdi", "নরসিংদী", ()),
    ("BD3082", "Rajbari", "রাজবাড়ী", ()),
    ("BD3086", "Shariatpur", "শরীয়তপুর", ()),
    ("BD3093", "Tangail", "টাঙ্গাইল", ()),
    ("BD4001", "Bagerhat", "বাগেরহাট", ()),
    ("BD4018", "Chuadanga", "চুয়াডাঙ্গা", ()),
    ("BD4041", "Jashore", "যশোর", ("Jessore",)),
    ("BD4044", "Jhenaidah", "ঝিনাইদহ", ("Jhenidah",)),
    ("BD4047", "Khulna", "খুলনা", ()),
    ("BD4050", "Kushtia", "কুষ্টিয়া", ()),
    ("BD4055", "Magura", "মাগুরা", ()),
    ("BD4057", "Meherpur", "মেহেরপুর", ()),
    ("BD4065", "Narail", "নড়াইল", ()),
    ("BD4087", "Satkhira", "সাতক্ষীরা", ()),
    ("BD4539", "Jamalpur", "জামালপুর", ()),
    ("BD4561", "Mymensingh", "ময়মনসিংহ", ()),
    ("BD4572", "Netrokona", "নেত্রকোণা", ("Netrakona",)),
    ("BD4589", "Sherpur", "শেরপুর", ()),
    ("BD5010", "Bogura", "বগুড়া", ("Bogra",)),
    ("BD5038", "Joypurhat", "জয়পুরহাট", ("Jaipurhat",)),
    ("BD5064", "Naogaon", "নওগাঁ", ()),
    ("BD5069", "Natore", "নাটোর", ()),
    ("BD5070", "Chapai Nawabganj", "চাঁপাইনবাবগঞ্জ", ("Chapainawabganj",)),
    ("BD5076", "Pabna", "পাবনা", ()),
    ("BD5081", "Rajshahi", "রাজশাহী", ()),
    ("BD5088", "Sirajganj", "সিরাজগঞ্জ", ()),
    ("BD5527", "Dinajpur", "দিনাজপুর", ()),
    ("BD5532", "Gaibandha", "গাইবান্ধা", ()),
    ("BD5549", "Kurigram", "কুড়িগ্রাম", ()),
    ("BD5552", "Lalmonirhat", "লালমনিরহাট", ()),
    ("BD5573", "Nilphamari", "নীলফামারী", ()),
    ("BD5577", "Panchagarh", "পঞ্চগড়", ()),
    ("BD5585", "Rangpur", "রংপুর", ()),
    ("BD5594", "Thakurgaon", "ঠাকুরগাঁও", ()),
    ("BD6036", "Habiganj", "হবিগঞ্জ", ()),
    ("BD6058", "Moulvibazar", "মৌলভীবাজার", ("Maulvibazar",)),
    ("BD6090", "Sunamganj", "সুনামগঞ্জ", ()),
    ("BD6091", "Sylhet", "সিলেট", ()),
)

_ROOTS: Final = (
    "Ram",
    "Shyam",
    "Sona",
    "Kali",
    "Chandi",
    "Madhab",
    "Gopal",
    "Hari",
    "Nawab",
    "Shib",
    "Dev",
    "Fatik",
    "Raja",
    "Rani",
    "Kamal",
    "Jamal",
    "Noa",
    "Bara",
    "Chhota",
    "Kashi",
    "Mirza",
    "Sultan",
    "Alam",
    "Fakir",
    "Bakshi",
    "Kazi",
    "Paikpara",
    "Dhan",
    "Nil",
    "Lal",
    "Shanti",
    "Bishnu",
    "Durga",
    "Amin",
    "Kadam",
    "Shimul",
    "Bakul",
    "Hijal",
    "Tetul",
    "Bamon",
    "Koyra",
    "Bhaba",
    "Mohan",
    "Sher",
    "Jagan",
    "Basan",
    "Kalma",
    "Gobinda",
    "Sadhu",
    "Nandi",
    "Rasul",
    "Islam",
    "Saidpur",
    "Pir",
)
_SUFFIXES: Final = (
    "pur",
    "ganj",
    "nagar",
    "hat",
    "bari",
    "dia",
    "khali",
    "kandi",
    "para",
    "danga",
    "gram",
    "tala",
    "kona",
    "ghat",
    "kati",
    "chhari",
    "pasha",
    "bazar",
)
_UNION_HEADS: Final = (
    "",
    "",
    "",
    "",
    "",
    "Char ",
    "Uttar ",
    "Dakshin ",
    "Purba ",
    "Paschim ",
    "Nij ",
)


@dataclass(frozen=True, slots=True)
class Geography:
    """The world's administrative units, one row per union.

    Attributes
    ----------
    district_idx : index into :data:`DISTRICTS` per union.
    upazila_name, upazila_code : the union's upazila (2-digit code unique within the district).
    union_name, union_code : 2-digit code unique within the upazila.
    rmo : the NID "RMO" digit (1 rural, 2 municipality, 3 city corporation).
    """

    district_idx: np.ndarray
    upazila_name: np.ndarray
    upazila_code: np.ndarray
    upazila_key: np.ndarray  # world-unique upazila number
    union_name: np.ndarray
    union_code: np.ndarray
    rmo: np.ndarray

    def __len__(self) -> int:
        return len(self.district_idx)


def district_number(idx: np.ndarray) -> np.ndarray:
    """The 2-digit district number (``26`` for Dhaka) of district indices."""
    return np.array([int(d[0][4:]) for d in DISTRICTS])[idx]


def build_geography(rng: np.random.Generator, n_districts: int) -> Geography:
    """Pick ``n_districts`` real districts and give each 4-10 upazilas of 5-12 unions."""
    chosen = np.sort(
        rng.choice(len(DISTRICTS), size=min(n_districts, len(DISTRICTS)), replace=False)
    )
    places = [r + s for r in _ROOTS for s in _SUFFIXES]
    rows: dict[str, list] = {k: [] for k in ("d", "un", "uc", "uk", "nn", "nc", "rmo")}
    upazila_key = 0
    for d in chosen:
        n_upz = int(rng.integers(4, 11))
        names = rng.choice(len(places), size=n_upz * 14, replace=False)
        upz_names = [f"{DISTRICTS[d][1]} Sadar"] + [places[i] for i in names[: n_upz - 1]]
        upz_codes = np.sort(rng.choice(np.arange(4, 96), size=n_upz, replace=False))
        cursor = n_upz - 1
        for u in range(n_upz):
            n_union = int(rng.integers(5, 13))
            union_codes = np.sort(rng.choice(np.arange(10, 99), size=n_union, replace=False))
            heads = rng.integers(0, len(_UNION_HEADS), size=n_union)
            for k in range(n_union):
                rows["d"].append(d)
                rows["un"].append(upz_names[u])
                rows["uc"].append(upz_codes[u])
                rows["uk"].append(upazila_key)
                rows["nn"].append(_UNION_HEADS[heads[k]] + places[names[cursor]])
                rows["nc"].append(union_codes[k])
                rows["rmo"].append(1 if k else (2 if u == 0 else 1))
                cursor += 1
            upazila_key += 1
    return Geography(
        district_idx=np.array(rows["d"], dtype=np.int64),
        upazila_name=np.array(rows["un"], dtype=object),
        upazila_code=np.array(rows["uc"], dtype=np.int64),
        upazila_key=np.array(rows["uk"], dtype=np.int64),
        union_name=np.array(rows["nn"], dtype=object),
        union_code=np.array(rows["nc"], dtype=np.int64),
        rmo=np.array(rows["rmo"], dtype=np.int64),
    )
