"""Names: the same person's name in Bangla and English script, romanisation variants, honorifics."""

from __future__ import annotations

import csv
import logging
import unicodedata
from pathlib import Path

import pytest
from rapidfuzz import fuzz

from engine.normalise import fold_token, honorific_gender, name_tokens, normalise_name, phonetic_key

log = logging.getLogger(__name__)

NAME_PAIRS = Path(__file__).parent / "data" / "name_pairs.csv"


def _pairs() -> list[dict[str, str]]:
    with open(NAME_PAIRS, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


PAIRS = _pairs()
EXACT = [p for p in PAIRS if p["expect"] == "exact"]
FUZZY = [p for p in PAIRS if p["expect"] == "fuzzy"]


# --- cross-script: Bangla-only MISs must meet English-script ones ---------------------------------


@pytest.mark.parametrize(
    ("bangla", "english"),
    [
        ("মোঃ আব্দুল করিম", "Md. Abdul Karim"),
        ("রহিমা বেগম", "Rohima Begom"),
        ("রহিমা বেগম", "Rahima Begum"),
        ("সুশীলা রানী", "Sushila Rani"),
        ("মোছাঃ রহিমা খাতুন", "Mst. Rahima Khatun"),
    ],
)
def test_the_briefs_names_meet_across_scripts(bangla: str, english: str) -> None:
    assert normalise_name(bangla) == normalise_name(english)
    assert phonetic_key(bangla) == phonetic_key(english)


@pytest.mark.parametrize("pair", EXACT, ids=[p["english"] for p in EXACT])
def test_name_pairs_are_equal_across_scripts(pair: dict[str, str]) -> None:
    assert normalise_name(pair["bangla"]) == normalise_name(pair["english"])
    assert phonetic_key(pair["bangla"]) == phonetic_key(pair["english"])


@pytest.mark.parametrize("pair", FUZZY, ids=[p["english"] for p in FUZZY])
def test_name_pairs_not_yet_equal_are_close(pair: dict[str, str]) -> None:
    bangla, english = normalise_name(pair["bangla"]), normalise_name(pair["english"])
    assert fuzz.token_sort_ratio(bangla, english) >= 90, (bangla, english)


def test_most_name_pairs_are_exactly_equal() -> None:
    equal = sum(normalise_name(p["bangla"]) == normalise_name(p["english"]) for p in PAIRS)
    log.info("cross-script exact equality: %d of %d name pairs", equal, len(PAIRS))
    assert len(PAIRS) >= 45
    assert equal / len(PAIRS) >= 0.95


def test_name_pairs_file_covers_men_and_women_of_both_main_religions() -> None:
    genders = {p["gender"] for p in PAIRS}
    assert genders == {"male", "female"}
    assert any("Rani" in p["english"] for p in PAIRS)  # Hindu women
    assert any("Chandra" in p["english"] or "Kumar" in p["english"] for p in PAIRS)  # Hindu men


# --- romanisation variants ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spellings",
    [
        ("Hossain", "Hossen", "Hosen", "Hussain", "Hussein", "হোসেন", "হোসাইন"),
        ("Rahman", "Rahaman", "Rohoman", "রহমান"),
        ("Haque", "Hoque", "Huq", "হক"),
        ("Uddin", "Uddeen", "Uddim", "উদ্দিন"),
        ("Mia", "Miah", "Miya", "মিয়া"),
        ("Sarkar", "Sarker", "সরকার"),
        ("Chowdhury", "Choudhuri", "Chowdhuri", "Chaudhury", "চৌধুরী"),
        ("Faruk", "Faruque", "Farooq", "ফারুক"),
        ("Golam", "Gulam", "গোলাম"),
        ("Akter", "Akhter", "Aktar", "Akther", "Akhtar", "আক্তার", "আখতার"),
        ("Parvin", "Parveen", "পারভীন"),
        ("Begum", "Begom", "Bagum", "বেগম"),
        ("Khatun", "Khatoon", "খাতুন"),
        ("Islam", "Eslam", "ইসলাম"),
        ("Abdul", "Abdur", "Abdus", "আব্দুল", "আবদুল"),
        ("Rani", "Ranee", "রানী", "রাণী"),
        ("Nesa", "Nessa", "Nisa", "নেসা", "নেছা"),
        ("Anwar", "Anowar", "Anoar", "আনোয়ার"),
        ("Yasmin", "Yeasmin", "Iasmin", "ইয়াসমিন"),
        ("Shafiqul", "Shofikul", "Safiqul", "শফিকুল"),
        ("Mostafa", "Mustafa", "Mostofa", "মোস্তফা"),
        ("Ahmad", "Ahmed", "Ahamed", "আহমেদ", "আহমদ"),
    ],
    ids=lambda spellings: spellings[0],
)
def test_romanisation_variants_fold_to_one_spelling(spellings: tuple[str, ...]) -> None:
    assert len({normalise_name(s) for s in spellings}) == 1, [normalise_name(s) for s in spellings]
    assert normalise_name(spellings[0]) == spellings[0].lower()


def test_distinct_names_stay_distinct() -> None:
    assert normalise_name("Rahim") != normalise_name("Rahima")
    assert normalise_name("Karim") != normalise_name("Rahim")
    assert normalise_name("Hasan") != normalise_name("Hossain")
    assert normalise_name("Noor Mohammad") != normalise_name("Noor Mahmud")
    assert normalise_name("Abdullah") == "abdullah"  # not split into "abdul lah"


def test_output_is_lower_case_latin_words_separated_by_one_space() -> None:
    name = normalise_name("  MD.  ABDUL-KARIM,  (Mia) ")
    assert name == "abdul karim mia"
    assert name == " ".join(name.split())
    assert name.isascii() and name == name.lower()


def test_normalising_a_normalised_name_changes_nothing() -> None:
    for pair in PAIRS:
        for raw in (pair["bangla"], pair["english"]):
            once = normalise_name(raw)
            assert normalise_name(once) == once, raw


def test_keys_of_a_normalised_name_are_the_keys_of_the_raw_name() -> None:
    # matching computes the blocking key from the stored normalised name
    for pair in PAIRS:
        for raw in (pair["bangla"], pair["english"]):
            assert phonetic_key(normalise_name(raw)) == phonetic_key(raw), raw


def test_fold_is_idempotent() -> None:
    for pair in PAIRS:
        for token in normalise_name(pair["english"]).split():
            assert fold_token(fold_token(token)) == fold_token(token)


# --- honorifics -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "Md. Abdul Karim",
        "Md Abdul Karim",
        "MD ABDUL KARIM",
        "Md.Abdul Karim",
        "Mohd. Abdul Karim",
        "Mohammad Abdul Karim",
        "Muhammad Abdul Karim",
        "Mohammed Abdul Karim",
        "Late Md. Abdul Karim",
        "Alhaj Md. Abdul Karim",
        "Abdul Karim",
        "মোঃ আব্দুল করিম",
        "মো: আব্দুল করিম",
        "মোঃআব্দুল করিম",
        "মোহাম্মদ আব্দুল করিম",
        "মৃত আব্দুল করিম",
    ],
)
def test_male_honorifics_are_dropped(raw: str) -> None:
    assert normalise_name(raw) == "abdul karim"


@pytest.mark.parametrize(
    "raw",
    [
        "Mst. Rahima Khatun",
        "Most. Rahima Khatun",
        "Mosammat Rahima Khatun",
        "Mossamat Rahima Khatun",
        "Mrs. Rahima Khatun",
        "Rahima Khatun",
        "মোছাঃ রহিমা খাতুন",
        "মোসাঃ রহিমা খাতুন",
        "মোসাম্মৎ রহিমা খাতুন",
        "মোছাম্মৎ রহিমা খাতুন",
    ],
)
def test_female_honorifics_are_dropped(raw: str) -> None:
    assert normalise_name(raw) == "rahima khatun"


def test_mohammad_is_kept_when_it_is_not_a_prefix() -> None:
    assert normalise_name("Noor Mohammad") == "nur mohammad"
    assert normalise_name("Md. Noor Muhammad") == "nur mohammad"
    assert normalise_name("Mohammad") == "mohammad"


def test_words_that_are_also_given_names_are_not_taken_for_titles() -> None:
    assert normalise_name("Md. Babu Mia") == "babu mia"
    assert normalise_name("Mosa Mia") == normalise_name("মুসা মিয়া") == "musa mia"


def test_sheikh_is_kept_and_spelled_one_way() -> None:
    assert (
        normalise_name("Sk. Abdur Rahim")
        == normalise_name("Sheikh Abdur Rahim")
        == "sheikh abdul rahim"
    )
    assert normalise_name("শেখ আব্দুর রহিম") == "sheikh abdul rahim"


@pytest.mark.parametrize(
    ("raw", "gender"),
    [
        ("Md. Abdul Karim", "male"),
        ("Mohammad Hossain", "male"),
        ("মোঃ আব্দুল করিম", "male"),
        ("শ্রী প্রদীপ কুমার", "male"),
        ("Mst. Rahima Khatun", "female"),
        ("Mosammat Rahima Khatun", "female"),
        ("মোছাঃ রহিমা খাতুন", "female"),
        ("শ্রীমতী লক্ষ্মী রানী", "female"),
        ("Rahima Khatun", None),
        ("Late Abdul Karim", None),
    ],
)
def test_honorific_gender(raw: str, gender: str | None) -> None:
    assert honorific_gender(raw) == gender


# --- how names are written: joined and split pieces -----------------------------------------------


@pytest.mark.parametrize(
    ("joined", "split"),
    [
        ("Abdurrahman", "Abdur Rahman"),
        ("Abdulkarim", "Abdul Karim"),
        ("Nasiruddin", "Nasir Uddin"),
        ("Nasir Ud Din", "Nasir Uddin"),
        ("Nasir Ud-Din", "Nasir Uddin"),
        ("Nur-ul Amin", "Nurul Amin"),
        ("Nur Ul Amin", "Nurul Amin"),
        ("Kamrunnahar", "Kamrun Nahar"),
        ("Khairunnessa", "Khairun Nesa"),
    ],
)
def test_joined_and_split_forms_meet(joined: str, split: str) -> None:
    assert normalise_name(joined) == normalise_name(split)


def test_name_tokens_and_empty_names() -> None:
    assert name_tokens("Md. Abdul Karim") == ["abdul", "karim"]
    assert normalise_name("Md.") == ""
    assert normalise_name("") == ""
    assert phonetic_key("Md.") == ""


# --- blocking key ---------------------------------------------------------------------------------


def test_phonetic_key_is_the_skeleton_of_the_given_name() -> None:
    assert phonetic_key("Md. Abdul Karim") == "krm"  # "abdul" says too little to block on
    assert (
        phonetic_key("Golam Mostafa") == phonetic_key("Gulam Mustafa") == phonetic_key("গোলাম মোস্তফা")
    )
    assert phonetic_key("Rahima Begum") == phonetic_key("Mst. Rohima Khatun") == "rhm"
    assert phonetic_key("Islam") == "islm"
    assert phonetic_key("Karim") != phonetic_key("Rahim")


# --- broken Unicode -------------------------------------------------------------------------------


def _decomposed_o(text: str) -> str:
    """ো and ৌ written as two vowel signs, as some keyboards and converters do."""
    return text.replace("ো", "\u09c7\u09be").replace("ৌ", "\u09c7\u09d7")


def _split_nukta(text: str) -> str:
    """য়, ড়, ঢ় as the letter plus a separate nukta."""
    return (
        text.replace("\u09df", "য\u09bc").replace("\u09dc", "ড\u09bc").replace("\u09dd", "ঢ\u09bc")
    )


@pytest.mark.parametrize(
    "clean",
    ["মোঃ আনোয়ার হোসেন", "মোছাঃ রোকেয়া বেগম", "গৌতম কুমার চৌধুরী", "মোঃ জয়নাল আবেদীন", "মোছাঃ আয়েশা সিদ্দিকা"],
)
def test_broken_bangla_unicode_gives_the_same_name(clean: str) -> None:
    expected = normalise_name(clean)
    assert normalise_name(_decomposed_o(clean)) == expected
    assert normalise_name(_split_nukta(clean)) == expected
    assert normalise_name(_split_nukta(_decomposed_o(clean))) == expected
    assert normalise_name(unicodedata.normalize("NFD", clean)) == expected
    assert normalise_name(clean.replace(" ", " \u200c").replace("্", "্\u200d")) == expected


def test_vowel_sign_typed_before_its_consonant_is_repaired() -> None:
    # Bijoy-converted text puts ে before the consonant it follows in Unicode
    assert normalise_name("\u09c7বগম") == normalise_name("বেগম") == "begum"
    assert normalise_name("\u09c7ম\u09beঃ আব্দুল করিম") == "abdul karim"
