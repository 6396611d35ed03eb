"""Versioned programme policies: which programme combinations count as double dipping.

Rules change by government circular, so they live in YAML files beside this module
(``double_dipping-v1.yaml`` ...), never in code. :func:`load_policy` reads one into a
:class:`Policy`; :func:`graph.queries.double_dipping` applies it to the graph.

Example
-------
>>> policy = load_policy()
>>> policy.cash_cap, policy.counts_toward_cap("egpp_workfare")
(3, False)
>>> ("old_age_allowance", "widow_allowance") in policy.exclusive_pairs
True
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from ekjon.errors import EkjonError

__all__ = [
    "DEFAULT_POLICY",
    "PROGRAMME_KINDS",
    "Policy",
    "PolicyError",
    "ProgrammeInfo",
    "default_policy",
    "load_policy",
]

log = logging.getLogger(__name__)

#: The policy file :func:`load_policy` reads when given no path.
DEFAULT_POLICY: Final = Path(__file__).parent / "policies" / "double_dipping-v1.yaml"

#: The kinds a programme of the catalogue may have.
PROGRAMME_KINDS: Final = (
    "allowance",
    "stipend",
    "honorarium",
    "pension",
    "workfare",
    "in_kind",
    "other",
)

_KEYS: Final = {
    "version",
    "name",
    "effective_from",
    "notes",
    "active_statuses",
    "missing_status_is_active",
    "programmes",
    "cash_cap",
    "cash_cap_excludes",
    "exclusive_pairs",
    "one_per_household",
    "duplicate_enrolment",
}
_PROGRAMME_KEYS: Final = {"name", "cash", "kind"}


class PolicyError(EkjonError, ValueError):
    """A policy file that cannot be used; the message names the file, the key and the fix."""


@dataclass(frozen=True, slots=True)
class ProgrammeInfo:
    """One programme of the catalogue.

    Attributes
    ----------
    code:
        The programme code as mappings name it, e.g. ``old_age_allowance``.
    name:
        Its full name.
    cash:
        True if it pays cash.
    kind:
        One of :data:`PROGRAMME_KINDS`.
    known:
        False for a programme the policy's catalogue does not list (treated as a cash allowance).
    """

    code: str
    name: str
    cash: bool
    kind: str
    known: bool = True


@dataclass(frozen=True)
class Policy:
    """A double-dipping policy, as read from a versioned policy file.

    Attributes
    ----------
    version, name, effective_from:
        The file's identity, quoted in every finding.
    programmes:
        The catalogue: code -> :class:`ProgrammeInfo`.
    cash_cap:
        At most this many cash programmes per person (``None``: no cap).
    cash_cap_excludes:
        Programme kinds that do not count toward the cap.
    exclusive_pairs:
        Pairs of programme codes a person may not hold together (each pair sorted).
    one_per_household:
        Programmes at most one member of a household may receive.
    duplicate_enrolment:
        True to report a person enrolled in one programme under two or more records.
    active_statuses:
        Enrolment statuses that count as receiving (lower-case).
    missing_status_is_active:
        True if an enrolment without a status counts as active.
    path:
        The file the policy was read from (``None`` if built in code).
    """

    version: int
    name: str = "double_dipping"
    programmes: Mapping[str, ProgrammeInfo] = field(default_factory=dict)
    cash_cap: int | None = 3
    cash_cap_excludes: frozenset[str] = frozenset({"workfare", "in_kind"})
    exclusive_pairs: tuple[tuple[str, str], ...] = ()
    one_per_household: tuple[str, ...] = ()
    duplicate_enrolment: bool = True
    active_statuses: frozenset[str] = frozenset({"active"})
    missing_status_is_active: bool = True
    effective_from: str | None = None
    path: str | None = None

    @property
    def label(self) -> str:
        """``name-vN``, as findings quote it."""
        return f"{self.name}-v{self.version}"

    def programme(self, code: str) -> ProgrammeInfo:
        """The catalogue entry of ``code``; an unknown code is a cash allowance, ``known=False``."""
        info = self.programmes.get(code)
        if info is None:
            return ProgrammeInfo(code, code, True, "allowance", known=False)
        return info

    def counts_toward_cap(self, code: str) -> bool:
        """True if ``code`` counts toward the cash cap (cash, and not of an excluded kind)."""
        info = self.programme(code)
        return info.cash and info.kind not in self.cash_cap_excludes

    def per_household(self, code: str) -> bool:
        """True if at most one member of a household may receive ``code`` (the only rule that
        looks past one person's own enrolments)."""
        return code in self.one_per_household

    def is_active(self, status: Any) -> bool:
        """True if an enrolment with ``status`` counts as receiving."""
        if status is None or (isinstance(status, float) and status != status):
            return self.missing_status_is_active
        text = str(status).strip().lower()
        if not text:
            return self.missing_status_is_active
        return text in self.active_statuses


def _fail(where: str, key: str, message: str) -> PolicyError:
    return PolicyError(f"policy {where}: {key!r} {message}")


def _codes(value: Any, where: str, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _fail(where, key, f"must be a list of programme codes; got {value!r}.")
    return list(value)


def _bool(value: Any, where: str, key: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(where, key, f"must be true or false; got {value!r}.")
    return value


def _programmes(value: Any, where: str) -> dict[str, ProgrammeInfo]:
    if not isinstance(value, Mapping) or not value:
        raise _fail(
            where,
            "programmes",
            "must map each programme code to {name, cash, kind}; got "
            f"{type(value).__name__} {value!r:.80}.",
        )
    catalogue = {}
    for code, entry in value.items():
        key = f"programmes.{code}"
        if not isinstance(code, str) or not code:
            raise _fail(where, key, "is not a programme code (a non-empty string).")
        if not isinstance(entry, Mapping):
            raise _fail(where, key, f"must be a mapping {{name, cash, kind}}; got {entry!r}.")
        unknown = set(entry) - _PROGRAMME_KEYS
        if unknown:
            raise _fail(
                where,
                f"{key}.{sorted(unknown)[0]}",
                f"is not a programme setting; use {', '.join(sorted(_PROGRAMME_KEYS))}.",
            )
        if "cash" not in entry:
            raise _fail(where, f"{key}.cash", "is missing: say whether the programme pays cash.")
        cash = _bool(entry["cash"], where, f"{key}.cash")
        kind = entry.get("kind", "other")
        if kind not in PROGRAMME_KINDS:
            raise _fail(
                where, f"{key}.kind", f"must be one of {', '.join(PROGRAMME_KINDS)}; got {kind!r}."
            )
        name = entry.get("name", code)
        if not isinstance(name, str) or not name:
            raise _fail(where, f"{key}.name", f"must be a non-empty string; got {name!r}.")
        catalogue[code] = ProgrammeInfo(code, name, cash, kind)
    return catalogue


def _known(codes: list[str], catalogue: Mapping[str, ProgrammeInfo], where: str, key: str) -> None:
    for code in codes:
        if code not in catalogue:
            raise _fail(
                where,
                key,
                f"names programme {code!r}, which the 'programmes' catalogue does not list; add it "
                "there or fix the spelling.",
            )


def policy_from_dict(data: Any, where: str = "<dict>") -> Policy:
    """Build a :class:`Policy` from the parsed YAML of a policy file.

    Raises
    ------
    PolicyError
        Naming the key at fault and what it must be.
    """
    if not isinstance(data, Mapping):
        raise PolicyError(f"policy {where}: the file must be a YAML mapping of policy settings.")
    unknown = set(data) - _KEYS
    if unknown:
        raise _fail(
            where, sorted(unknown)[0], f"is not a policy setting; use {', '.join(sorted(_KEYS))}."
        )
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _fail(where, "version", f"must be a positive whole number; got {version!r}.")
    catalogue = _programmes(data.get("programmes"), where)

    cash_cap = data.get("cash_cap", 3)
    if cash_cap is not None and (
        not isinstance(cash_cap, int) or isinstance(cash_cap, bool) or cash_cap < 1
    ):
        raise _fail(
            where, "cash_cap", f"must be a positive whole number or null; got {cash_cap!r}."
        )
    excludes = data.get("cash_cap_excludes", ["workfare", "in_kind"])
    if not isinstance(excludes, list) or not all(k in PROGRAMME_KINDS for k in excludes):
        raise _fail(
            where,
            "cash_cap_excludes",
            f"must be a list of programme kinds ({', '.join(PROGRAMME_KINDS)}); got {excludes!r}.",
        )

    pairs = []
    raw_pairs = data.get("exclusive_pairs") or []
    if not isinstance(raw_pairs, list):
        raise _fail(where, "exclusive_pairs", f"must be a list of pairs; got {raw_pairs!r}.")
    for i, pair in enumerate(raw_pairs):
        key = f"exclusive_pairs[{i}]"
        codes = _codes(pair, where, key)
        if len(codes) != 2 or codes[0] == codes[1]:
            raise _fail(where, key, f"must be two different programme codes; got {pair!r}.")
        _known(codes, catalogue, where, key)
        pairs.append((min(codes), max(codes)))

    one_per = _codes(data.get("one_per_household") or [], where, "one_per_household")
    _known(one_per, catalogue, where, "one_per_household")

    statuses = _codes(data.get("active_statuses", ["active"]), where, "active_statuses")
    if not statuses:
        raise _fail(where, "active_statuses", "must name at least one status, e.g. [active].")
    effective = data.get("effective_from")
    name = data.get("name", "double_dipping")
    if not isinstance(name, str) or not name:
        raise _fail(where, "name", f"must be a non-empty string; got {name!r}.")
    return Policy(
        version=version,
        name=name,
        programmes=catalogue,
        cash_cap=cash_cap,
        cash_cap_excludes=frozenset(excludes),
        exclusive_pairs=tuple(dict.fromkeys(pairs)),
        one_per_household=tuple(dict.fromkeys(one_per)),
        duplicate_enrolment=_bool(
            data.get("duplicate_enrolment", True), where, "duplicate_enrolment"
        ),
        active_statuses=frozenset(s.strip().lower() for s in statuses),
        missing_status_is_active=_bool(
            data.get("missing_status_is_active", True), where, "missing_status_is_active"
        ),
        effective_from=None if effective is None else str(effective),
        path=None if where == "<dict>" else where,
    )


def load_policy(path: str | os.PathLike[str] | None = None) -> Policy:
    """Read a policy file (default: :data:`DEFAULT_POLICY`, ``double_dipping-v1.yaml``).

    Parameters
    ----------
    path:
        A policy YAML file.

    Returns
    -------
    The policy.

    Raises
    ------
    PolicyError
        If the file cannot be read, is not YAML, or a setting is missing or wrong (the message names
        the key).

    Example
    -------
    >>> load_policy().label
    'double_dipping-v1'
    """
    file = Path(path) if path is not None else DEFAULT_POLICY
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise PolicyError(f"policy {file}: cannot be read ({error.strerror}).") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise PolicyError(f"policy {file}: is not valid YAML ({error}).") from None
    policy = policy_from_dict(data, str(file))
    log.debug("loaded policy %s from %s", policy.label, file)
    return policy


@functools.lru_cache(maxsize=1)
def default_policy() -> Policy:
    """The shipped policy (:data:`DEFAULT_POLICY`), read once a process: what a server's routes
    judge by, without parsing the file on every request (about 4 ms)."""
    return load_policy()
