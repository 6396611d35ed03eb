"""Generate the synthetic world and write it: sources, their mappings, the truth and world.json."""

from __future__ import annotations

import csv
import json
import logging
import re
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import numpy as np
import yaml
from numpy.dtypes import StringDType

from synth.enrolment import PlantRates, enrol
from synth.geography import DISTRICTS
from synth.population import SURVEY_DATE, TODAY, build_population
from synth.shapes import SHAPES, reshape
from synth.sources import PROGRAMME_SOURCES, Ctx, Source, bbs_nhd, reference_sources
from synth.tags import tag_counts
from synth.truth import (
    double_dipping,
    identifiers,
    persons_table,
    programme_rows,
    records_table,
)

log = logging.getLogger(__name__)

GENERATOR_VERSION: Final = 1
STR: Final = StringDType()
#: what :func:`generate_world` reports to ``progress``, in order
STEPS: Final = (
    "population",
    "enrolment",
    *(f.__name__ for f in PROGRAMME_SOURCES),
    "bbs_nhd",
    "references",
    "truth",
)


@dataclass(frozen=True, slots=True)
class WorldParameters:
    """What to generate.

    Attributes
    ----------
    persons : how many persons (exactly).
    seed : the same seed gives byte-identical files.
    districts : how many real districts the world spreads over; default ``persons // 25000``,
        at least 2, at most 64.
    plant : how much fraud to plant.
    shapes : ``"default"``: each source has ekjon's own layout; ``"varied"``: each is re-cut with
        its own columns, fields, vocabulary and formats (see :mod:`synth.shapes`).
    shape_seed : with ``seed``, decides the varied shapes (the same rows, other shapes).
    """

    persons: int
    seed: int = 0
    districts: int | None = None
    plant: PlantRates = field(default_factory=PlantRates)
    shapes: str = "default"
    shape_seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.persons, int) or self.persons < 100:
            raise ValueError(
                "The 'persons' parameter of WorldParameters must be an int >= 100. "
                f"Got {self.persons!r}."
            )
        if self.districts is not None and not 1 <= self.districts <= len(DISTRICTS):
            raise ValueError(
                f"The 'districts' parameter of WorldParameters must be in [1, {len(DISTRICTS)}]. "
                f"Got {self.districts!r}."
            )
        if self.shapes not in SHAPES:
            raise ValueError(
                f"The 'shapes' parameter of WorldParameters must be one of {', '.join(SHAPES)}. "
                f"Got {self.shapes!r}."
            )

    @property
    def n_districts(self) -> int:
        if self.districts is not None:
            return self.districts
        return int(min(len(DISTRICTS), max(2, self.persons // 25_000)))


@dataclass(slots=True)
class WorldSummary:
    """What was written (also saved as ``world.json``)."""

    out: Path
    seed: int
    persons: int
    households: int
    records: dict[str, int]
    planted: dict[str, int]
    violations: dict[str, int]
    suspicious: dict[str, int]
    shared: dict[str, int]
    unplanted: int

    @property
    def total_records(self) -> int:
        return sum(self.records.values())


def generate_world(
    params: WorldParameters, out: Path | str, progress: Callable[[str], None] | None = None
) -> WorldSummary:
    """Generate a synthetic Bangladesh world and write it to ``out``.

    Parameters
    ----------
    params : persons, seed, districts, planting rates.
    out : the folder to write (created if missing; existing files of the same names are replaced).
    progress : called with each step's name (see :data:`STEPS`) as the step starts.

    Returns
    -------
    WorldSummary
        Counts per source, planted cases and rule violations.

    Example
    -------
    >>> params = WorldParameters(persons=2000, seed=1)
    >>> summary = generate_world(params, "/tmp/world")  # doctest: +SKIP
    >>> summary.records["dss_old_age"]  # doctest: +SKIP
    """
    out = Path(out)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    step = progress or (lambda _name: None)
    seed = params.seed

    def rng_for(stage: str) -> np.random.Generator:
        return np.random.default_rng([seed, zlib.crc32(stage.encode())])

    step("population")
    pop = build_population(rng_for, params.persons, params.n_districts)
    step("enrolment")
    enrolments, planted = enrol(pop, rng_for, params.plant)
    ctx = Ctx(pop, enrolments, planted, rng_for)

    def write(src: Source) -> None:
        if params.shapes == "varied":  # a re-cut copy is written; the truth reads the original
            src = reshape(replace(src), ctx, params.shape_seed)
        write_source(src, out)

    sources: list[Source] = []
    for builder in PROGRAMME_SOURCES:
        step(builder.__name__)
        sources.append(builder(ctx))
        write(sources[-1])
    step("bbs_nhd")
    sources.append(bbs_nhd(ctx))
    write(sources[-1])
    step("references")
    for src in reference_sources(ctx, sources):
        sources.append(src)
        write(src)

    step("truth")
    write_csv(records_table(sources, pop), out / "truth" / "records.csv")
    write_csv(persons_table(pop), out / "truth" / "persons.csv")
    dd = double_dipping(programme_rows(sources, pop))
    dd.to_csv(out / "truth" / "double_dipping.csv", index=False, lineterminator="\n")
    shared, suspicious = identifiers(sources, pop, planted)
    shared.to_csv(out / "truth" / "shared_identifiers.csv", index=False, lineterminator="\n")
    suspicious.to_csv(
        out / "truth" / "suspicious_identifiers.csv", index=False, lineterminator="\n"
    )

    unplanted = int((suspicious["kind"] == "unplanted").sum())
    if unplanted:
        log.warning("%d identifiers shared across households were not planted", unplanted)
    summary = WorldSummary(
        out=out,
        seed=seed,
        persons=len(pop.persons),
        households=len(pop.households),
        records={s.name: len(s) for s in sources},
        planted=planted.counts(),
        violations={rule: int(n) for rule, n in dd.groupby("rule")["person_id"].nunique().items()},
        suspicious={k: int(n) for k, n in suspicious["kind"].value_counts().sort_index().items()},
        shared={
            k: int(n) for k, n in shared["identifier_type"].value_counts().sort_index().items()
        },
        unplanted=unplanted,
    )
    world = {
        "generator": "ekjon synth",
        "version": GENERATOR_VERSION,
        "seed": seed,
        "persons": summary.persons,
        "households": summary.households,
        "dates": {"exports": str(TODAY), "survey": str(SURVEY_DATE)},
        "districts": sorted({DISTRICTS[d][0] for d in pop.geo.district_idx.tolist()}),
        "unions": len(pop.geo),
        "parameters": {
            "persons": params.persons,
            "seed": seed,
            "districts": params.n_districts,
            "plant": {k: list(v) for k, v in asdict(params.plant).items()},
            "shapes": params.shapes,
            "shape_seed": params.shape_seed,
        },
        "sources": {
            s.name: {
                "file": s.file,
                "mapping": f"{s.name}.yaml",
                "kind": s.kind,
                "programme": s.programme,
                "records": len(s),
            }
            for s in sources
        },
        "records": summary.total_records,
        "planted": summary.planted,
        "violations": summary.violations,
        "suspicious_identifiers": summary.suspicious,
        "shared_identifiers": summary.shared,
        "tags": {s.name: tag_counts(s.tags) for s in sources},
    }
    (out / "world.json").write_text(
        json.dumps(world, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    log.info(
        "world: %d persons, %d records in %d sources written to %s",
        summary.persons,
        summary.total_records,
        len(sources),
        out,
    )
    return summary


# -- writing -----------------------------------------------------------------------------------


def write_source(src: Source, out: Path) -> None:
    """Write a source's data file and its mapping YAML beside it."""
    path = out / src.file
    if src.format == "csv":
        write_csv(src.columns, path, src.delimiter)
    elif src.format == "jsonl":
        _write_jsonl(src, path)
    elif src.format == "parquet":
        _write_parquet(src, path)
    else:  # pragma: no cover - the builders only make these three
        raise ValueError(f"unknown format {src.format!r} for {src.name}")
    (out / f"{src.name}.yaml").write_text(mapping_yaml(src), encoding="utf-8")


def write_csv(columns: dict[str, np.ndarray], path: Path, delimiter: str = ",") -> None:
    """Write string columns as CSV (UTF-8, ``\\n`` line ends, quoted only where needed).

    Arrow's writer does the work; a file with a value that needs quotes goes through the csv module.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pa_csv

    names = list(columns)
    table = pa.table({c: pa.array(columns[c].astype(STR), type=pa.string()) for c in names})
    needs_quotes = any(
        pc.any(pc.match_substring_regex(table[c], f'[{re.escape(delimiter)}"\\r\\n]')).as_py()
        for c in names
    )
    needs_quotes |= any(ch in c for c in names for ch in (delimiter, '"', "\r", "\n"))
    if not needs_quotes:
        options = pa_csv.WriteOptions(
            include_header=False, delimiter=delimiter, quoting_style="none"
        )
        with path.open("wb") as f:
            f.write((delimiter.join(names) + "\n").encode("utf-8"))
            pa_csv.write_csv(table, f, options)
        return
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter=delimiter, lineterminator="\n")
        writer.writerow(names)
        writer.writerows(zip(*(columns[c].astype(STR).tolist() for c in names), strict=True))


def _write_jsonl(src: Source, path: Path) -> None:
    names = list(src.columns)
    columns = []
    for name in names:
        values = src.columns[name].tolist()
        if src.typed.get(name) == "int":
            columns.append([int(v) if v != "" else None for v in values])
        else:
            columns.append([v if v != "" else None for v in values])
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in zip(*columns, strict=True):
            f.write(json.dumps(dict(zip(names, row, strict=True)), ensure_ascii=False))
            f.write("\n")


def _write_parquet(src: Source, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = {}
    for name, values in src.columns.items():
        kind = src.typed.get(name)
        if kind == "int":
            arrays[name] = pa.array(values.astype(np.int32), type=pa.int32())
        elif kind == "date":
            arrays[name] = pa.array(values.astype("datetime64[D]"), type=pa.date32())
        else:
            arrays[name] = pa.array(
                [v if v != "" else None for v in values.tolist()], type=pa.string()
            )
    pq.write_table(pa.table(arrays), path, compression="snappy")


def mapping_yaml(src: Source) -> str:
    """The source's mapping in the format of docs/mapping.md (leaf entries in flow style)."""
    m = src.mapping()
    lines = [
        f"# {src.name}.yaml: {src.description}",
        "# written by `ekjon synth`; see docs/mapping.md",
    ]
    lines.append(f"source: {_flow(m['source'])}")
    lines.append(f"kind: {_flow(m['kind'])}")
    lines.append(f"record_id: {_flow(m['record_id'])}")
    lines.append("file:")
    lines.extend(f"  {k}: {_flow(v)}" for k, v in m["file"].items())
    lines.append("fields:")
    lines.extend(f"  {k}: {_flow(v)}" for k, v in m["fields"].items())
    for section in ("identifiers",):
        if m.get(section):
            lines.append(f"{section}:")
            lines.extend(f"  {k}: {_flow(v)}" for k, v in m[section].items())
    return "\n".join(lines) + "\n"


def _flow(value: Any) -> str:
    text = yaml.safe_dump(
        value, default_flow_style=True, allow_unicode=True, width=10_000, sort_keys=False
    )
    return text.strip().removesuffix("...").strip()
