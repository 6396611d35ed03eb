"""Which data file goes with which mapping: the files one ``ekjon ingest`` call will read.

A data file uses the mapping given for every file, else the mapping beside it with the same name
(``dss.csv`` -> ``dss.yaml``). A folder stands for every data file in it that has such a mapping
(the folder ``ekjon synth`` writes). Problems with a whole file (no mapping, file not found, a bad
shared mapping) are collected, never raised, so the files beside them are still read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from engine.errors import EkjonError
from engine.ingest.mapping import EXTENSION_FORMATS, Mapping, load_mapping

MAPPING_SUFFIXES: Final = (".yaml", ".yml")


@dataclass
class SourceFile:
    """One data file and its mapping (read from ``mapping_path`` when first needed)."""

    data: Path
    mapping_path: Path | None
    mapping: Mapping | None = None

    def load_mapping(self) -> Mapping:
        """The file's mapping (read once)."""
        if self.mapping is None:
            assert self.mapping_path is not None
            self.mapping = load_mapping(self.mapping_path)
        return self.mapping


@dataclass
class FilePlan:
    """The files to ingest, the whole-file problems (``file``, ``error``) and the data files of a
    folder skipped for having no mapping beside them."""

    files: list[SourceFile] = field(default_factory=list)
    problems: list[dict[str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def mapping_beside(data: Path) -> Path | None:
    """The mapping file beside a data file (same name, ``.yaml`` or ``.yml``), if any."""
    for suffix in MAPPING_SUFFIXES:
        candidate = data.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    return None


def pair_files(paths: list[Path], mapping: Path | None = None) -> FilePlan:
    """Pair each data file (or each data file of each folder) in ``paths`` with its mapping.

    Parameters
    ----------
    paths:
        Data files and folders, in the order given.
    mapping:
        One mapping for every file, instead of the mapping beside each.

    Example
    -------
    >>> plan = pair_files([Path("world")])                                 # doctest: +SKIP
    >>> [(f.data.name, f.mapping_path.name) for f in plan.files][:1]       # doctest: +SKIP
    [('bbs_nhd.csv', 'bbs_nhd.yaml')]
    """
    plan = FilePlan()
    shared = None
    if mapping is not None:
        try:
            shared = load_mapping(mapping)
        except EkjonError as exc:
            plan.problems.append({"file": str(mapping), "error": str(exc)})
            return plan
    for path in paths:
        if path.is_dir():
            found = sorted(
                p for p in path.iterdir() if p.is_file() and p.suffix.lower() in EXTENSION_FORMATS
            )
            for other in sorted(p for p in path.iterdir() if p.is_file()):
                suffix = other.suffix.lower()
                if suffix in EXTENSION_FORMATS or suffix in MAPPING_SUFFIXES:
                    continue
                if shared is None and mapping_beside(other) is not None:
                    # a mapping says it is a source: it must not be passed over in silence
                    plan.problems.append(
                        {
                            "file": str(other),
                            "error": f"{other}: ekjon cannot read {suffix or 'extension-less'} "
                            f"files; export it as CSV or Excel (known: "
                            f"{', '.join(EXTENSION_FORMATS)}).",
                        }
                    )
            before = len(plan.files)
            for data in found:
                beside = None if shared is not None else mapping_beside(data)
                if shared is not None:
                    plan.files.append(SourceFile(data, mapping, shared))
                elif beside is not None:
                    plan.files.append(SourceFile(data, beside))
                else:
                    plan.skipped.append(str(data))
            if len(plan.files) == before:
                plan.problems.append(
                    {
                        "file": str(path),
                        "error": f"{path}: no data file with a mapping beside it "
                        "(NAME.csv / .parquet / .jsonl / .xlsx with NAME.yaml).",
                    }
                )
        elif not path.exists():
            plan.problems.append({"file": str(path), "error": f"{path}: file not found."})
        elif shared is not None:
            plan.files.append(SourceFile(path, mapping, shared))
        else:
            beside = mapping_beside(path)
            if beside is None:
                plan.problems.append(
                    {
                        "file": str(path),
                        "error": f"{path}: no mapping given; pass --mapping or put "
                        f"{path.with_suffix('.yaml').name} beside it.",
                    }
                )
            else:
                plan.files.append(SourceFile(path, beside))
    return plan
