"""The second level: persons grouped into households.

Persons (records carrying the ``person_id`` the first level gave them) are joined into households by
evidence, strongest first. Each stage joins what the earlier ones built and is undone, for the
groups it would have joined, where it breaks a rule:

1. **Survey membership.** Records of a survey (``kind == "survey"``, e.g. BBS's NHD) that carry a
   ``household_id`` list the members of one household; persons listed in the same
   ``source/household_id`` are one household. Should resolution have put one person into several
   households of the same survey, the person keeps the largest (then the first by id).
2. **Programme household ids.** A programme MIS's ``household_id`` (source-scoped: ``dss/77`` and
   ``pesp/77`` are unrelated) joins the persons it lists.
3. **Shared numbers and named relatives.**

   - A mobile number (``phone``, or the mobile behind a bKash / Nagad / Rocket wallet) shared by 2
     to :attr:`HouseholdRules.max_sharers` (6) sharers, all of whose persons have records in one
     union (district/upazila + union), joins them: households share a phone. Sharers are counted in
     the households stages 1-2 and the named relatives below (spouses, parents, siblings) found (a
     person without any counts alone), so a survey household of nine on one phone, or a mother and
     her five children on hers, is one sharer while nine strangers on one wallet are nine. A
     number with more sharers, or with persons in different unions, is no household's: it is a
     phone farm, an agent's wallet or a hijacked payment number, and joins no one.
   - A spouse named on a record (``spouse_name``) who is the only person of that name (cross-script,
     spelling-folded, word order ignored) at the same address (union + ward), is not of the same
     gender and does not name someone else as their spouse, joins the person.
   - A minor's mother or father (``mother_name`` / ``father_name``) who is the only person of that
     name in the same union, of the right gender, at least 12 years older (both birth years
     known) and not listed by a survey, joins the child: children live with their parents, adults
     may not; and a parent the (years old) survey lists stays in the survey's household, since a
     child it does not list may be of a new family the parent has started.
   - Minors of one union who name the same mother and the same father (both names, cross-script,
     spelling-folded) are siblings and join one another, 2 to :attr:`HouseholdRules.max_sharers`
     of them (more are namesakes' children): a couple's children live together even when neither
     parent has a record, or the survey lists a parent.

   A minor is a person born less than :attr:`HouseholdRules.minor_age` (18) years before the
   records' own newest date (an age's ``age_as_of`` or an enrolment's ``since``), not the clock's
   today: the same records give the same households next year.

A stage first joins everything at once. Where that makes a household that (a) holds persons listed
in two different households of the same survey (the survey says they live apart: e.g. a married
daughter who still uses her mother's phone), or (b) has more than
:attr:`HouseholdRules.max_household` persons, the stage's joins there are redone one piece of
evidence at a time (a number with all its persons, a named spouse or parent, a sibling group; in
the order listed above): a piece that would break (a) or (b) is skipped whole, the others still
join. So one ambiguous number does not cost a household its other, sound evidence.

A person with no evidence is a household of one (or has none, with ``alone_is_household=False``).
Household IDs are stable across runs by the identity ledger's rules (``H`` + counter + check digit,
see :mod:`engine.identity.ledger`), with the household's kinds of evidence as the ledger reason.

Example
-------
>>> records = pd.DataFrame({
...     "source": ["nhd", "nhd", "dss"], "record_id": ["h1:1", "h1:2", "9"],
...     "kind": ["survey", "survey", "programme"], "household_id": ["h1", "h1", None],
...     "relation_to_head": ["head", "spouse", None], "person_id": ["P1", "P2", "P3"]})
>>> found = resolve_households(records)
>>> found["household_id"].nunique(), found.loc[0, "relation"], found.loc[2, "evidence"]
(2, 'head', 'alone')
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Final

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from engine.errors import EkjonError
from engine.identity.assign import assign_household_ids
from engine.identity.ledger import IdentityLedger

__all__ = ["HouseholdError", "HouseholdRules", "group_households", "resolve_households"]

log = logging.getLogger(__name__)

#: a parent is at least this many years older than the child.
MIN_PARENT_GAP: Final = 12
#: the relation a survey record gives outranks a programme's.
_KIND_ORDER: Final = {"survey": 0, "programme": 1, "reference": 2}


class HouseholdError(EkjonError):
    """The records cannot be grouped into households (the message says what is missing)."""


@dataclass(frozen=True)
class HouseholdRules:
    """The household rules' knobs (see the module docstring).

    Attributes
    ----------
    max_sharers:
        A number shared by more persons (or households already found) than this is not a
        household's.
    max_household:
        Programme ids, numbers and spouses never build a household larger than this.
    programme_households:
        Use programme MIS household ids (stage 2).
    shared_numbers:
        Use phones and wallets shared within a union (stage 3).
    spouse_names:
        Use spouse names at one address (stage 3).
    parent_names:
        Use a minor's mother's and father's names in one union (stage 3).
    sibling_names:
        Join minors of one union who name the same mother and the same father (stage 3).
    minor_age, as_of_year:
        A child is a minor when born after ``as_of_year - minor_age``. ``None`` (the default)
        takes the year of the newest date the records carry (an age's ``age_as_of`` or an
        enrolment's ``since``), so the same records give the same households in any calendar
        year; this year when the records carry no such date.
    alone_is_household:
        A person with no household evidence is a household of one (else gets no household).
    """

    max_sharers: int = 6
    max_household: int = 20
    programme_households: bool = True
    shared_numbers: bool = True
    spouse_names: bool = True
    parent_names: bool = True
    sibling_names: bool = True
    minor_age: int = 18
    as_of_year: int | None = None
    alone_is_household: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.max_sharers, int) or self.max_sharers < 2:
            raise HouseholdError(
                "The 'max_sharers' parameter of HouseholdRules must be an int >= 2. "
                f"Got {self.max_sharers!r}."
            )
        if not isinstance(self.max_household, int) or self.max_household < 2:
            raise HouseholdError(
                "The 'max_household' parameter of HouseholdRules must be an int >= 2. "
                f"Got {self.max_household!r}."
            )
        if self.as_of_year is not None and (
            not isinstance(self.as_of_year, int) or not 1900 <= self.as_of_year <= 2200
        ):
            raise HouseholdError(
                "The 'as_of_year' parameter of HouseholdRules must be a year (an int from 1900 "
                f"to 2200) or None. Got {self.as_of_year!r}."
            )

    def minor_from(self) -> int:
        """The earliest birth year of a minor (``as_of_year`` set, as group_households sets it)."""
        if self.as_of_year is None:
            raise HouseholdError("HouseholdRules.as_of_year is not set; group_households sets it.")
        return self.as_of_year - self.minor_age


def _column(records: pd.DataFrame, name: str) -> pd.Series:
    if name in records.columns:
        values = records[name].astype(object)
        return values.where(values.notna(), None)
    return pd.Series(None, index=records.index, dtype=object)


def _text(values: pd.Series) -> pd.Series:
    """Strings with ``None`` for missing and blank values (canonical values are already trimmed)."""
    out = values.astype(object)
    missing = out.isna().to_numpy()
    if pd.api.types.infer_dtype(out, skipna=True) not in ("string", "empty"):
        out = out.where(missing, out.astype(str))
    blank = missing | (out.to_numpy() == "")
    return out.where(~blank, None)


def _joined(group: np.ndarray, text: np.ndarray, sep: str) -> pd.Series:
    """``sep``-joined texts per group, in the given order (vectorised; no per-group Python)."""
    if not len(group):
        return pd.Series(dtype=object)
    order = np.argsort(group, kind="stable")
    group, text = group[order], text[order].astype(object)
    first = np.r_[True, group[1:] != group[:-1]]
    pieces = np.where(first, text, sep + pd.Series(text, dtype=object)).astype(object)
    starts = np.flatnonzero(first)
    return pd.Series(np.add.reduceat(pieces, starts), index=group[starts], dtype=object)


class _Fields:
    """Cleaned columns of the records, each computed once; name keys from the pipeline's prepared
    frame when one is given (its folded names), else from the normaliser."""

    #: canonical name field -> the prepared frame's folded column
    PREPARED: Final = {
        "full_name": "name_en",
        "full_name_bn": "name_bn",
        "father_name": "father",
        "mother_name": "mother",
        "spouse_name": "spouse",
    }

    def __init__(self, records: pd.DataFrame, prepared: pd.DataFrame | None) -> None:
        self.records = records
        self.prepared = prepared
        self._cache: dict[str, pd.Series] = {}

    def text(self, name: str) -> pd.Series:
        if name not in self._cache:
            self._cache[name] = _text(_column(self.records, name))
        return self._cache[name]

    def name_key(self, name: str) -> pd.Series:
        key = "key:" + name
        if key not in self._cache:
            column = self.PREPARED[name]
            if self.prepared is not None and column in self.prepared.columns:
                folded = _text(self.prepared[column].reset_index(drop=True))
                folded.index = self.records.index
                self._cache[key] = _map_unique(folded, _sorted_words)
            else:
                self._cache[key] = _map_unique(self.text(name), _name_key)
        return self._cache[key]

    def birth_years(self, person: np.ndarray) -> pd.Series:
        if "birth_years" not in self._cache:
            self._cache["birth_years"] = _birth_years(self, person)
        return self._cache["birth_years"]


def _rows_of(frame: pd.DataFrame, keep: np.ndarray) -> pd.DataFrame:
    """The rows of ``frame`` where ``keep``, numbered from 0; ``frame`` itself (not a copy: it is
    only read) when that is every row, numbered so already, as in a whole resolve."""
    if keep.all():
        if frame.index.equals(pd.RangeIndex(len(frame))):
            return frame
        return frame.reset_index(drop=True)
    return frame[keep].reset_index(drop=True)


def _map_unique(values: pd.Series, func: Callable[[Any], Any]) -> pd.Series:
    """``func`` once per distinct non-missing value."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    mapped = np.array([func(u) for u in uniques] + [None], dtype=object)
    return pd.Series(mapped[codes], index=values.index, dtype=object)


def _name_key(raw: object) -> str | None:
    from engine.normalise import normalise_name

    try:
        folded = normalise_name(str(raw))
    except Exception:  # an unreadable name is no evidence
        return None
    return _sorted_words(folded)


def _sorted_words(folded: object) -> str | None:
    """A folded name's words in sorted order: word order is no evidence."""
    return " ".join(sorted(str(folded).split())) or None


def _wallet_numbers(fields: _Fields) -> pd.Series:
    """The mobile number behind each record's wallet: :func:`engine.normalise.account_phone` once
    per distinct provider and number."""
    from engine.normalise import account_phone
    from engine.resolve.prepare import map_distinct

    number = fields.text("account_number")
    phones = map_distinct(lambda p, n: account_phone(n, p), fields.text("account_provider"), number)
    return pd.Series(phones, index=number.index, dtype=object)


def _components(n_nodes: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    graph = coo_matrix(
        (np.ones(len(u), dtype=np.int8), (u.astype(np.int64), v.astype(np.int64))),
        shape=(n_nodes, n_nodes),
    )
    _, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64)


@dataclass
class _Evidence:
    """Persons joined through shared nodes (a household id, a number) or directly (a spouse)."""

    kind: str  # survey | programme | phone | spouse | mother | father | siblings
    person: np.ndarray  # person code per link
    node: np.ndarray  # node code per link (group nodes), or the other person (spouse)
    token: np.ndarray  # evidence text per link (pairwise: the relation the other person is)
    source: np.ndarray | None = None  # the source listing the group (surveys)
    pairwise: bool = False  # node is the other person


def _grouped(
    person: np.ndarray,
    group: pd.Series,
    kind: str,
    tokens: pd.Series,
    source: pd.Series | None = None,
) -> _Evidence:
    codes, _ = pd.factorize(group)
    return _Evidence(
        kind,
        person,
        codes.astype(np.int64),
        tokens.to_numpy(dtype=object),
        None if source is None else source.to_numpy(dtype=object),
    )


def _stage(
    n_persons: int,
    previous: np.ndarray,
    evidence: list[_Evidence],
    survey: _Evidence | None,
    max_household: int,
) -> tuple[np.ndarray, int]:
    """Labels after adding ``evidence`` to ``previous`` labels, undone where a rule breaks."""
    us, vs = [np.arange(n_persons)], [n_persons + previous]
    offset = n_persons + int(previous.max()) + 1 if n_persons else n_persons
    for ev in evidence:
        if not len(ev.person):
            continue
        if ev.pairwise:
            us.append(ev.person)
            vs.append(ev.node)
        else:
            us.append(ev.person)
            vs.append(offset + ev.node)
            offset += int(ev.node.max()) + 1
    u, v = np.concatenate(us), np.concatenate(vs)
    labels = _components(offset, u, v)[:n_persons]
    labels, _ = pd.factorize(labels)
    labels = labels.astype(np.int64)
    # grown: holds more than one previous household
    k = int(labels.max()) + 1 if n_persons else 0
    pairs = np.unique(labels * (int(previous.max()) + 1) + previous) if n_persons else labels
    grown = np.bincount(pairs // (int(previous.max()) + 1), minlength=k) > 1
    size = np.bincount(labels, minlength=k)
    bad = grown & (size > max_household)
    if survey is not None and len(survey.person):
        frame = pd.DataFrame(
            {"household": labels[survey.person], "source": survey.source, "group": survey.node}
        )
        listed = frame.drop_duplicates().groupby(["household", "source"])["group"].nunique()
        split = listed[listed > 1].index.get_level_values("household").to_numpy()
        bad[split] |= grown[split]
    undone = int(bad.sum())
    if undone:
        back = bad[labels]
        roots, undone = _piecewise(previous, back, evidence, survey, max_household)
        labels = np.where(back, k + roots, labels)
        labels, _ = pd.factorize(labels)
        labels = labels.astype(np.int64)
    return labels, undone


def _piecewise(
    previous: np.ndarray,
    persons: np.ndarray,
    evidence: list[_Evidence],
    survey: _Evidence | None,
    max_household: int,
) -> tuple[np.ndarray, int]:
    """Households of the ``persons`` (bool per person) from ``previous`` and ``evidence`` taken one
    piece at a time (a number with all its persons, a named spouse, parent or sibling group),
    strongest first; a piece that would join persons the survey lists apart or make a household
    larger than ``max_household`` is skipped whole. Returns a label per person (a previous label
    for those in ``persons``) and the number of pieces skipped. Run only where joining everything
    at once broke a rule: those are few."""
    found = np.flatnonzero(persons)
    parent = {int(h): int(h) for h in np.unique(previous[found])}
    size = dict(zip(*np.unique(previous[found], return_counts=True), strict=True))
    size = {int(h): int(c) for h, c in size.items()}
    listings: dict[int, dict[str, set[int]]] = {h: {} for h in parent}
    if survey is not None:
        listed = persons[survey.person]
        for p, src, group in zip(
            survey.person[listed], survey.source[listed], survey.node[listed], strict=True
        ):
            listings[int(previous[p])].setdefault(str(src), set()).add(int(group))

    def find(h: int) -> int:
        while parent[h] != h:
            parent[h] = parent[parent[h]]
            h = parent[h]
        return h

    skipped = 0
    for ev in evidence:
        keep = persons[ev.person] if len(ev.person) else np.zeros(0, dtype=bool)
        if not keep.any():
            continue
        if ev.pairwise:
            a, b = ev.person[keep].tolist(), ev.node[keep].tolist()
            pieces = sorted({(min(x, y), max(x, y)) for x, y in zip(a, b, strict=True)})
        else:
            frame = pd.DataFrame({"node": ev.node[keep], "person": ev.person[keep]})
            pieces = [tuple(g) for g in frame.groupby("node", sort=True)["person"].agg(list)]
        for piece in pieces:
            roots = sorted({find(int(previous[p])) for p in piece})
            if len(roots) < 2:
                continue
            merged: dict[str, set[int]] = {}
            for root in roots:
                for src, groups in listings[root].items():
                    merged.setdefault(src, set()).update(groups)
            total = sum(size[r] for r in roots)
            if total > max_household or any(len(g) > 1 for g in merged.values()):
                skipped += 1
                continue
            head = roots[0]
            for root in roots[1:]:
                parent[root] = head
            size[head], listings[head] = total, merged
    out = previous.copy()
    out[found] = [find(int(h)) for h in previous[found]]
    return out, skipped


def group_households(
    records: pd.DataFrame,
    rules: HouseholdRules | None = None,
    *,
    prepared: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Group persons into households (labels only; :func:`resolve_households` adds stable IDs).

    Parameters
    ----------
    records:
        Canonical records (columns of :mod:`engine.record`; absent ones count as empty) with a
        ``person_id`` column. Records without a person are ignored.
    rules:
        :class:`HouseholdRules`; defaults when ``None``.
    prepared:
        The batch's :func:`engine.resolve.prepare.prepare` frame of these records (same rows, same
        order),
        to reuse its folded names instead of normalising every name again. Optional.

    Returns
    -------
    pandas.DataFrame
        One row per person, sorted by ``person_id``: ``person_id``, ``household`` (an integer label,
        ``-1`` for none), ``relation`` (to the household head, as a survey or else a programme
        record gives it), ``evidence`` (what joined the person, ``"; "``-separated, e.g.
        ``"survey nhd/h1; phone 01711234567"``, or ``"alone"``) and ``reason`` (the household's
        kinds of evidence, for the ledger).

    Raises
    ------
    HouseholdError
        If ``records`` has no ``person_id`` column.
    """
    rules = rules or HouseholdRules()
    for column in ("source", "person_id"):
        if column not in records.columns:
            raise HouseholdError(
                f"The records need a {column!r} column (canonical records with the person each "
                f"was resolved into); got columns {', '.join(map(str, records.columns))}."
            )
    has_person = records["person_id"].notna().to_numpy()
    if prepared is not None:
        if len(prepared) != len(records):
            raise HouseholdError(
                f"The prepared frame has {len(prepared)} rows but the records {len(records)}; "
                "pass the frame prepare() made of these records, or none."
            )
        prepared = _rows_of(prepared, has_person)
    records = _rows_of(records, has_person)
    fields = _Fields(records, prepared)
    if rules.as_of_year is None:
        rules = replace(rules, as_of_year=_data_year(fields))
        log.info("households: minors are those born in %d or later", rules.minor_from())
    person_text = records["person_id"].astype(str)
    persons = np.sort(person_text.unique())
    n = len(persons)
    person = pd.Index(persons).get_indexer(person_text).astype(np.int64)
    kind = fields.text("kind").str.lower()
    source = records["source"].astype(str)

    # 1-2. household ids: survey and programme -----------------------------------------------------
    household_id = fields.text("household_id")
    has_hh = household_id.notna().to_numpy()
    hh_key = (source + "/" + household_id.fillna("")).where(has_hh, None)
    is_survey = has_hh & (kind == "survey").to_numpy()
    survey_links = pd.DataFrame(
        {
            "person": person[is_survey],
            "key": hh_key[is_survey].to_numpy(dtype=object),
            "source": source[is_survey].to_numpy(dtype=object),
        }
    ).drop_duplicates()
    survey_links["size"] = survey_links.groupby("key")["person"].transform("size")
    survey_links = survey_links.sort_values(
        ["person", "source", "size", "key"], ascending=[True, True, False, True]
    )
    many = survey_links.duplicated(["person", "source"])
    if many.any():
        log.warning(
            "%d persons are listed in more than one household of one survey; each keeps the "
            "largest",
            int(survey_links.loc[many, "person"].nunique()),
        )
    survey_links = survey_links[~many]
    survey = _grouped(
        survey_links["person"].to_numpy(np.int64),
        survey_links["key"],
        "survey",
        "survey " + survey_links["key"],
        survey_links["source"],
    )
    evidence: list[_Evidence] = [survey]
    labels = _stage(n, np.arange(n), [survey], None, np.iinfo(np.int64).max)[0]

    if rules.programme_households:
        is_programme = has_hh & ~is_survey
        links = pd.DataFrame(
            {"person": person[is_programme], "key": hh_key[is_programme].to_numpy(dtype=object)}
        ).drop_duplicates()
        programme = _grouped(
            links["person"].to_numpy(np.int64),
            links["key"],
            "programme",
            "programme " + links["key"],
        )
        labels, undone = _stage(n, labels, [programme], survey, rules.max_household)
        if undone:
            log.info("programme household ids: %d skipped (survey or size rule)", undone)
        evidence.append(programme)

    # 3. numbers and spouses -----------------------------------------------------------------------
    district = fields.text("district")
    upazila = fields.text("upazila")
    union = fields.text("union").str.lower()
    located = union.notna() & (district.notna() | upazila.notna())
    place = district.fillna("") + "/" + upazila.fillna("").str.lower() + "/" + union.fillna("")
    place = place.where(located, None)
    relatives: list[_Evidence] = []
    if rules.spouse_names:
        relatives.append(_named_relatives(fields, person, place, "spouse", rules))
    if rules.parent_names:
        # a parent the survey lists stays in the survey's household: a child the survey does not
        # list (born since, or of a new family the parent has started) is no evidence for it
        listed = np.zeros(n, dtype=bool)
        listed[survey.person] = True
        for relation_name in ("mother", "father"):
            found = _named_relatives(fields, person, place, relation_name, rules, listed)
            relatives.append(found)
    if rules.sibling_names:
        relatives.append(_siblings(fields, person, place, rules))
    weak: list[_Evidence] = []
    if rules.shared_numbers:
        # sharers are counted in the households the named relatives join too: five siblings on
        # their mother's phone are one sharer, not five
        kin = labels
        if any(len(ev.person) for ev in relatives):
            kin = _stage(n, labels, relatives, survey, rules.max_household)[0]
        weak.append(_shared_numbers(fields, person, kin, place, rules.max_sharers))
    weak.extend(relatives)
    if weak:
        labels, undone = _stage(n, labels, weak, survey, rules.max_household)
        if undone:
            log.info("shared numbers / relatives: %d pieces skipped (survey or size rule)", undone)
        evidence.extend(weak)

    return _result(fields, persons, person, kind, labels, evidence, rules)


def _shared_numbers(
    fields: _Fields,
    person: np.ndarray,
    households: np.ndarray,
    place: pd.Series,
    max_sharers: int,
) -> _Evidence:
    phone = fields.text("phone")
    wallet = _wallet_numbers(fields)
    uses = pd.concat(
        [
            pd.DataFrame({"number": phone.to_numpy(dtype=object), "person": person}),
            pd.DataFrame({"number": wallet.to_numpy(dtype=object), "person": person}),
        ],
        ignore_index=True,
    )
    uses = uses[uses["number"].notna()].drop_duplicates()
    # sharers are counted in households found so far: a survey household of nine on one phone is
    # one sharer, nine strangers on one wallet are nine
    uses["household"] = households[uses["person"].to_numpy(np.int64)]
    sharers = uses.groupby("number")["household"].transform("nunique")
    uses = uses[(sharers >= 2).to_numpy()]
    sharers = sharers[sharers >= 2]
    crowded = uses.loc[(sharers > max_sharers).to_numpy(), "number"].nunique()
    uses = uses[(sharers <= max_sharers).to_numpy()]
    # a union every person of the number has a record in
    places = pd.DataFrame({"person": person, "place": place.to_numpy(dtype=object)})
    places = places[places["place"].notna()].drop_duplicates()
    located = uses.merge(places, on="person")
    per_place = located.groupby(["number", "place"])["person"].nunique()
    per_number = uses.groupby("number")["person"].size()
    together = per_place[
        per_place.to_numpy() == per_number.reindex(per_place.index.get_level_values(0)).to_numpy()
    ]
    household_numbers = together.index.get_level_values("number").unique()
    scattered = per_number.index.difference(household_numbers).size
    if crowded or scattered:
        log.info(
            "shared numbers not taken as household evidence: %d shared by more than %d sharers, "
            "%d by persons in different (or unknown) unions",
            crowded,
            max_sharers,
            scattered,
        )
    uses = uses[uses["number"].isin(household_numbers)]
    count = uses.groupby("number")["person"].transform("size").astype(str)
    tokens = "phone " + uses["number"].astype(str) + " (used by " + count + " in one union)"
    return _grouped(uses["person"].to_numpy(np.int64), uses["number"], "phone", tokens)


def _data_year(fields: _Fields) -> int:
    """The year of the newest ``age_as_of`` or ``since`` date the records carry; else this year."""
    years = [
        pd.to_numeric(fields.text(name).str.slice(0, 4), errors="coerce").max()
        for name in ("age_as_of", "since")
    ]
    known = [int(year) for year in years if pd.notna(year)]
    return max(known) if known else date.today().year


def _birth_years(fields: _Fields, person: np.ndarray) -> pd.Series:
    """Each person's birth year (median over their records), from birth year, date or age."""
    records = fields.records
    year = pd.to_numeric(_column(records, "birth_year"), errors="coerce")
    dob = fields.text("date_of_birth")
    year = year.fillna(pd.to_numeric(dob.str.slice(0, 4), errors="coerce"))
    age = pd.to_numeric(_column(records, "age"), errors="coerce")
    as_of = pd.to_numeric(fields.text("age_as_of").str.slice(0, 4), errors="coerce")
    year = year.fillna(as_of - age)
    frame = pd.DataFrame({"person": person, "year": year.to_numpy(dtype=np.float64)}).dropna()
    return frame.groupby("person")["year"].median()


def _siblings(
    fields: _Fields, person: np.ndarray, place: pd.Series, rules: HouseholdRules
) -> _Evidence:
    """Minors of one union naming the same mother and the same father: a couple's children."""
    mother = fields.name_key("mother_name")
    father = fields.name_key("father_name")
    known = (place.notna() & mother.notna() & father.notna()).to_numpy()
    links = pd.DataFrame(
        {
            "person": person[known],
            "key": (place[known] + "|" + mother[known] + "|" + father[known]).to_numpy(object),
        }
    ).drop_duplicates()
    years = fields.birth_years(person)
    minor = links["person"].map(years) >= rules.minor_from()
    links = links[minor.fillna(False).to_numpy(dtype=bool)]
    children = links.groupby("key")["person"].transform("size")
    # one child alone is no evidence; many "children" of one couple's names are namesakes
    links = links[((children >= 2) & (children <= rules.max_sharers)).to_numpy()]
    return _grouped(
        links["person"].to_numpy(np.int64),
        links["key"],
        "siblings",
        pd.Series("siblings (same mother and father named)", index=links.index),
    )


def _named_relatives(
    fields: _Fields,
    person: np.ndarray,
    place: pd.Series,
    relation: str,
    rules: HouseholdRules,
    listed: np.ndarray | None = None,
) -> _Evidence:
    """Links from a record naming a relative to the one person of that name at its address."""
    empty = _Evidence(relation, np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, object))
    if relation == "spouse":
        ward = fields.text("ward")
        address = (place + "/" + ward.fillna("")).where(place.notna() & ward.notna(), None)
    else:
        address = place
    named_as = fields.text(f"{relation}_name")
    wants = address.notna() & named_as.notna()
    if not wants.any():
        return empty
    # only addresses where some record names such a relative need name keys
    relevant = address.isin(set(address[wants])) & address.notna()
    names = []
    for column in ("full_name", "full_name_bn"):
        names.append(
            pd.DataFrame(
                {
                    "person": person[relevant.to_numpy()],
                    "address": address[relevant].to_numpy(dtype=object),
                    "name": fields.name_key(column)[relevant].to_numpy(dtype=object),
                }
            )
        )
    named = pd.concat(names, ignore_index=True).dropna().drop_duplicates()
    holders = named.groupby(["address", "name"])["person"].transform("nunique")
    unique = named[holders == 1]
    wanted = pd.DataFrame(
        {
            "person": person[wants.to_numpy()],
            "address": address[wants].to_numpy(dtype=object),
            "name": fields.name_key(f"{relation}_name")[wants].to_numpy(dtype=object),
        }
    ).dropna()
    pairs = wanted.merge(unique, on=["address", "name"], suffixes=("", "_other"))
    pairs = pairs[pairs["person"] != pairs["person_other"]].drop_duplicates(
        ["person", "person_other"]
    )
    gender = fields.text("gender").str.lower()
    sex = pd.DataFrame({"person": person, "gender": gender.to_numpy(dtype=object)}).dropna()
    # a person whose records disagree on gender (a data-entry slip) counts as of unknown gender,
    # whichever record comes first
    sex = sex.drop_duplicates().drop_duplicates("person", keep=False).set_index("person")["gender"]
    a, b = pairs["person"].map(sex), pairs["person_other"].map(sex)
    if relation == "spouse":
        ok = ~(a.notna() & b.notna() & (a == b))
        # the named spouse must not name someone else as theirs (on any record, any address)
        says = named_as.notna()
        theirs = pd.DataFrame(
            {
                "person": person[says.to_numpy()],
                "name": fields.name_key(f"{relation}_name")[says].to_numpy(dtype=object),
            }
        ).dropna()
        theirs = theirs.drop_duplicates()
        own = named[["person", "name"]].drop_duplicates()
        back = pairs[["person", "person_other"]].merge(
            theirs, left_on="person_other", right_on="person", suffixes=("", "_t")
        )
        back = back.merge(own, left_on=["person", "name"], right_on=["person", "name"])
        back = back[["person", "person_other"]].drop_duplicates().assign(back=True)
        answered = pairs[["person", "person_other"]].merge(
            back, how="left", on=["person", "person_other"]
        )
        names_other = pairs["person_other"].isin(set(theirs["person"])).to_numpy()
        ok &= ~names_other | answered["back"].eq(True).to_numpy()
        words = ("spouse", "spouse")
    else:
        expected = "female" if relation == "mother" else "male"
        ok = b.isna() | (b == expected)
        # a minor child, and a parent at least MIN_PARENT_GAP years older (both years known)
        years = fields.birth_years(person)
        child, parent = pairs["person"].map(years), pairs["person_other"].map(years)
        minor = child >= rules.minor_from()
        ok &= (minor & (parent <= child - MIN_PARENT_GAP)).fillna(False).astype(bool)
        if listed is not None:
            ok &= ~listed[pairs["person_other"].to_numpy(np.int64)]
        words = (relation, "child")
    pairs = pairs[ok.to_numpy(dtype=bool)]
    if pairs.empty:
        return empty
    left = pairs["person"].to_numpy(np.int64)
    right = pairs["person_other"].to_numpy(np.int64)
    return _Evidence(
        relation,
        np.concatenate([left, right]),
        np.concatenate([right, left]),
        np.concatenate(
            [np.full(len(left), words[0], object), np.full(len(left), words[1], object)]
        ),
        pairwise=True,
    )


def _result(
    fields: _Fields,
    persons: np.ndarray,
    person: np.ndarray,
    kind: pd.Series,
    labels: np.ndarray,
    evidence: list[_Evidence],
    rules: HouseholdRules,
) -> pd.DataFrame:
    n = len(persons)
    # evidence that holds in the final households: its persons (group) or the pair ended together
    rows = []
    for ev in evidence:
        if not len(ev.person):
            continue
        frame = pd.DataFrame(
            {"person": ev.person, "node": ev.node, "token": ev.token, "kind": ev.kind}
        )
        if ev.pairwise:
            frame = frame[labels[frame["person"].to_numpy()] == labels[frame["node"].to_numpy()]]
            frame["token"] = (
                frame["token"]
                + " "
                + pd.Series(persons[frame["node"].to_numpy()], index=frame.index)
            )
        else:
            frame["household"] = labels[frame["person"].to_numpy()]
            intact = frame.groupby("node")["household"].transform("nunique") == 1
            frame = frame[intact.to_numpy()]
        rows.append(frame[["person", "token", "kind"]])
    held = (
        pd.concat(rows, ignore_index=True)
        if rows
        else pd.DataFrame({"person": [], "token": [], "kind": []})
    )
    held = held.drop_duplicates(["person", "token"]).sort_values(["person", "token"])
    tokens = _joined(held["person"].to_numpy(np.int64), held["token"].to_numpy(object), "; ")
    text = pd.Series("alone", index=np.arange(n), dtype=object)
    text[tokens.index.to_numpy(np.int64)] = tokens.to_numpy()

    household = labels.copy()
    alone = np.bincount(labels, minlength=int(labels.max()) + 1 if n else 0)[labels] == 1
    alone &= text.to_numpy() == "alone"
    if not rules.alone_is_household:
        household[alone] = -1
    held["household"] = labels[held["person"].to_numpy(np.int64)]
    kinds_held = held.drop_duplicates(["household", "kind"]).sort_values(["household", "kind"])
    kinds = _joined(
        kinds_held["household"].to_numpy(np.int64), kinds_held["kind"].to_numpy(object), ", "
    )
    reason = pd.Series(labels).map(kinds).astype(object)
    reason = ("household from " + reason.fillna("")).where(reason.notna(), "no household evidence")

    # the relation each person's records give (survey first), most common
    relation = fields.text("relation_to_head")
    rel = pd.DataFrame(
        {
            "person": person,
            "relation": relation.to_numpy(dtype=object),
            "order": kind.map(_KIND_ORDER).fillna(3).to_numpy(),
        }
    ).dropna(subset=["relation"])
    rel = rel.groupby(["person", "order", "relation"]).size().reset_index(name="n")
    rel = rel.sort_values(["person", "order", "n", "relation"], ascending=[True, True, False, True])
    first = rel.drop_duplicates("person").set_index("person")["relation"]
    first = _gendered(first, rel, person, fields.text("gender"))
    relations = pd.Series(np.arange(n)).map(first)

    return pd.DataFrame(
        {
            "person_id": persons,
            "household": household,
            "relation": relations.where(relations.notna(), None).to_numpy(dtype=object),
            "evidence": text.to_numpy(dtype=object),
            "reason": reason.to_numpy(dtype=object),
        }
    )


def _gendered(
    first: pd.Series, rel: pd.DataFrame, person: np.ndarray, gender: pd.Series
) -> pd.Series:
    """A person's gender-free relation (``child``: the record that gave it had no gender) made
    the male or female one (``son``) where the person's other records say which: one gender on
    all their records that give one (:func:`engine.normalise.fields.relation_for_gender`), else
    the gendered form of it their records give most often."""
    from engine.normalise.fields import (
        GENDER_FREE_RELATION,
        GENDERED_RELATIONS,
        relation_for_gender,
    )

    free = first[first.isin(list(GENDERED_RELATIONS))]
    if free.empty:
        return first
    genders = pd.DataFrame({"person": person, "gender": gender.to_numpy(dtype=object)})
    genders = genders[
        genders["person"].isin(free.index) & genders["gender"].isin(["male", "female"])
    ]
    genders = genders.drop_duplicates()
    one = genders.drop_duplicates("person", keep=False).set_index("person")["gender"]
    refined = rel[rel["person"].isin(free.index)]
    refined = refined[
        refined["relation"].map(GENDER_FREE_RELATION).to_numpy(dtype=object)
        == refined["person"].map(free).to_numpy(dtype=object)
    ]
    most = (
        refined.groupby(["person", "relation"])["n"]
        .sum()
        .reset_index()
        .sort_values(["person", "n", "relation"], ascending=[True, False, True])
        .drop_duplicates("person")
        .set_index("person")["relation"]
    )
    out = first.copy()
    for who, relation in free.items():
        if who in one.index:
            out[who] = relation_for_gender(relation, one[who])
        elif who in most.index:
            out[who] = most[who]
    return out


def resolve_households(
    records: pd.DataFrame,
    *,
    ledger: IdentityLedger | None = None,
    model_version: str | None = None,
    rules: HouseholdRules | None = None,
    run_note: str | None = None,
    prepared: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Households of the resolved persons, with stable household IDs.

    Parameters
    ----------
    records:
        Canonical records with ``person_id`` (e.g. the records joined to
        :func:`engine.identity.ledger.assign_person_ids`' output).
    ledger:
        The identity ledger that keeps household IDs stable across runs. ``None``: a throw-away
        in-memory ledger (IDs valid for this call only).
    model_version:
        Recorded with the ledger run.
    rules:
        :class:`HouseholdRules`; defaults when ``None``.
    run_note:
        Free text kept with the ledger run.
    prepared:
        The batch's prepared frame of these records (same rows, same order), to reuse its folded
        names (see :func:`group_households`).

    Returns
    -------
    pandas.DataFrame
        ``person_id, household_id, relation, evidence``, one row per person, sorted by person_id;
        ``household_id`` is ``None`` only for persons without evidence when
        ``rules.alone_is_household`` is False.

    Raises
    ------
    HouseholdError
        If the records have no ``person_id``.
    """
    grouped = group_households(records, rules, prepared=prepared)
    own = ledger if ledger is not None else IdentityLedger(":memory:")
    try:
        assigned = grouped[grouped["household"] >= 0]
        ids = assign_household_ids(
            own,
            assigned[["person_id", "household", "reason"]],
            model_version=model_version,
            run_note=run_note,
        )
    finally:
        if ledger is None:
            own.close()
    household_id = pd.Series(ids["household_id"].to_numpy(), index=ids["person_id"].to_numpy())
    out = grouped[["person_id", "relation", "evidence"]].copy()
    mapped = out["person_id"].map(household_id)
    out.insert(1, "household_id", mapped.where(mapped.notna(), None).to_numpy(dtype=object))
    return out.reset_index(drop=True)
