"""How fast ingest runs: rows/s and peak memory ingesting a generated MIS export of N rows.

Usage::

    .venv/bin/python benchmarks/ingest_speed.py            # 200,000 rows, CSV
    .venv/bin/python benchmarks/ingest_speed.py --rows 50000 --format parquet

Prints the figures for: the first ingest (all rows new), a re-ingest of the same file (all rows
unchanged), and loading every current record as a DataFrame (cold: builds the Parquet snapshot;
warm: reads it). Peak memory is the process's peak resident set size.
"""

from __future__ import annotations

import argparse
import csv
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.ingest.mapping import mapping_from_dict  # noqa: E402
from engine.ingest.run import ingest_file  # noqa: E402
from engine.ingest.store import RecordStore  # noqa: E402

GIVEN_MALE = [
    "Abdul Karim",
    "Rafiqul Islam",
    "Delwar Hossain",
    "Jamal Uddin",
    "Nurul Haque",
    "Golam Mostofa",
    "Abul Kashem",
    "Shahidul Alam",
    "Mizanur Rahman",
    "Faruk Ahmed",
]
GIVEN_FEMALE = [
    "Rahima",
    "Amena",
    "Shirin",
    "Jahanara",
    "Nasima",
    "Rokeya",
    "Hasina",
    "Morjina",
    "Sufia",
    "Kulsum",
]
FEMALE_ENDINGS = ["Begum", "Khatun", "Akter", "Parvin", "Sultana", "Bibi"]
BANGLA = ["মোঃ আব্দুল করিম", "রহিমা বেগম", "মোছাঃ শিরিন আক্তার", "সুশীলা রানী দাস", "মোঃ দেলোয়ার হোসেন"]
DISTRICTS = [
    "Dhaka",
    "Bogura",
    "Cumilla",
    "Sylhet",
    "Khulna",
    "Rangpur",
    "Barishal",
    "Jashore",
    "Chattogram",
    "Mymensingh",
    "Gaibandha",
    "Kurigram",
]
PROVIDERS = ["bKash", "Nagad", "Rocket", "Sonali Bank"]
HEADER = [
    "ben_id",
    "name",
    "name_bn",
    "father",
    "sex",
    "dob",
    "nid",
    "mobile",
    "mfs",
    "wallet",
    "zila",
    "upazila",
    "status",
    "amount",
]

MAPPING = {
    "source": "bench_old_age",
    "kind": "programme",
    "record_id": "ben_id",
    "fields": {
        "programme": {"value": "old_age_allowance"},
        "full_name": "name",
        "full_name_bn": "name_bn",
        "father_name": "father",
        "gender": "sex",
        "date_of_birth": {"column": "dob", "formats": ["%d/%m/%Y"]},
        "nid": "nid",
        "phone": "mobile",
        "account_provider": "mfs",
        "account_number": "wallet",
        "district": "zila",
        "upazila": "upazila",
        "status": "status",
        "amount": "amount",
    },
}


def generated_rows(n: int, seed: int = 7):
    """Rows shaped like an Old Age Allowance export, with ~1% bad values."""
    rng = random.Random(seed)
    for i in range(n):
        female = rng.random() < 0.55
        name = (
            f"{rng.choice(GIVEN_FEMALE)} {rng.choice(FEMALE_ENDINGS)}"
            if female
            else f"Md. {rng.choice(GIVEN_MALE)}"
        )
        mobile = f"01{rng.choice('3456789')}{rng.randrange(10**8):08d}"
        provider = rng.choice(PROVIDERS)
        wallet = {
            "Rocket": mobile + str(rng.randrange(10)),
            "Sonali Bank": str(rng.randrange(10**12, 10**13)),
        }.get(provider, mobile)
        dob = f"{rng.choice([1, 1, 1, rng.randint(1, 28)]):02d}/{rng.randint(1, 12):02d}/"
        dob += str(rng.randint(1930, 1962))
        nid = str(rng.randrange(10**12, 10**13))
        if rng.random() < 0.01:
            nid = nid[:-1]  # a 12-digit NID
        if rng.random() < 0.01:
            dob = "31/02/1950"
        yield [
            f"OAA-{i:08d}",
            name,
            rng.choice(BANGLA),
            f"Md. {rng.choice(GIVEN_MALE)}",
            "F" if female else "M",
            dob,
            nid,
            mobile,
            provider,
            wallet,
            rng.choice(DISTRICTS),
            f"Upazila {rng.randrange(40)}",
            rng.choice(["active", "active", "active", "suspended"]),
            "600",
        ]


def write_file(path: Path, n: int, file_format: str) -> None:
    if file_format == "csv":
        with path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(HEADER)
            writer.writerows(generated_rows(n))
        return
    import pandas as pd

    frame = pd.DataFrame(list(generated_rows(n)), columns=HEADER)
    if file_format == "parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_json(path, orient="records", lines=True, force_ascii=False)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--format", choices=("csv", "parquet", "jsonl"), default="csv")
    parser.add_argument("--chunk-rows", type=int, default=20_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data = folder / f"oaa.{args.format}"
        t = time.perf_counter()
        write_file(data, args.rows, args.format)
        size = data.stat().st_size / 2**20
        print(
            f"generated {args.rows:,} rows ({size:.1f} MiB {args.format}) in "
            f"{time.perf_counter() - t:.1f} s"
        )
        rss_before = peak_rss_mib()

        mapping = mapping_from_dict(MAPPING)
        with RecordStore(folder / "home" / "records.sqlite") as store:
            for label in ("first ingest", "re-ingest"):
                t = time.perf_counter()
                report = ingest_file(store, mapping, data, chunk_rows=args.chunk_rows)
                seconds = time.perf_counter() - t
                print(
                    f"{label:13s}: {seconds:6.1f} s  {args.rows / seconds:9,.0f} rows/s  "
                    f"new {report.ingested:,}  unchanged {report.unchanged:,}  "
                    f"warnings {report.field_warnings:,}  peak RSS {peak_rss_mib():,.0f} MiB"
                )
            store.close()
        with RecordStore(folder / "home" / "records.sqlite") as store:
            for label in ("current() warm",):
                t = time.perf_counter()
                frame = store.current()
                print(f"{label:13s}: {time.perf_counter() - t:6.1f} s  {len(frame):,} records")
            for snapshot in store.snapshot_dir.glob("*.parquet"):
                snapshot.unlink()
            t = time.perf_counter()
            frame = store.current()
            print(f"current() cold: {time.perf_counter() - t:5.1f} s (rebuilds the snapshot)")
        db_mib = sum(p.stat().st_size for p in (folder / "home").glob("records.sqlite*")) / 2**20
        print(
            f"store size: {db_mib:,.0f} MiB; peak RSS before ingest {rss_before:,.0f} MiB, "
            f"at the end {peak_rss_mib():,.0f} MiB"
        )


if __name__ == "__main__":
    main()
