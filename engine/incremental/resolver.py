"""Incremental resolve: one new record against the persons of a finished batch, in milliseconds.

The API's ``/resolve`` cannot re-run the batch for every record that arrives. An
:class:`IncrementalResolver` keeps what the batch knew (the prepared records, their person IDs,
the blocking keys of every rule as sorted hash indexes, and the data-wide counts comparison uses)
and answers for one record what the batch would have answered had the record been in it:

1. **prepare** the record as :func:`engine.resolve.prepare.prepare` would inside the whole data:
   :func:`prepare_one` computes the same matching columns in plain Python (checked against
   ``prepare`` on a sample of the batch's records when the resolver is built or loaded; should
   they differ, ``prepare`` itself is used, slower), and the data-wide values (integer codes of
   geography, households and BRNs; NID smart-card links from the EC extract; how common the name
   is; how many names use the phone) come from the batch's records plus this one;
2. **block** with the batch's rules by index lookups (no re-blocking): every key of the record is
   hashed and looked up; a block that the record would push over the rule's ``max_block`` is
   refined or dropped exactly as :func:`engine.resolve.blocking.rule_pairs` does;
3. **score** the record against every record of each person it was blocked with (the batch scores
   every pair inside a small component the same way), with the batch's model and rules
   (:func:`engine.resolve.pipeline.score`, :func:`engine.resolve.compare.cannot_link`);
4. **decide** as the clustering does (:mod:`engine.resolve.cluster`). A person *links strongly*
when a
   blocked pair to it is above the link threshold and no cannot-link; its evidence is the average
   log-odds over the informative pairs (scored positive or at most ``-NEUTRAL_BAND``). With no
   strong link the record is a new person; with one, and a positive average and no cannot-link,
   it joins that person; otherwise (several strong links: the record bridges persons; or a
   contested one) the clustering's constrained average linkage is run over the record and those
   persons' records, and the record's group names the answer as the identity ledger would, the
   other persons in it being reported as ``merges``.

:meth:`IncrementalResolver.add` also remembers the record (its keys, its counts, its person) for
the calls that follow; the next batch run is still the reference.

Saving and loading: :mod:`engine.incremental.state` (what the batch writes for the API to load).

Example
-------
>>> resolution = resolve(records, model)                                     # doctest: +SKIP
>>> resolver = IncrementalResolver.from_resolution(                          # doctest: +SKIP
...     resolution, person_ids, model, records=records)
>>> resolver.save(folder)                                                    # doctest: +SKIP
>>> IncrementalResolver.write_batch(                                         # doctest: +SKIP
...     folder, resolution, person_ids, model, records=records)   # the same files, less memory
>>> resolver = IncrementalResolver.load(folder, model)                       # doctest: +SKIP
>>> match = resolver.resolve_one({"source": "dss", "record_id": "9", ...})   # doctest: +SKIP
>>> match.person_id, match.probability                                       # doctest: +SKIP
"""

from __future__ import annotations

import bisect
import json
import logging
import math
import time
from collections import ChainMap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from engine.errors import IncrementalError
from engine.identity.assign import ledger_choice
from engine.incremental.decide import (
    cross_script,
    crowded_weights,
    household_links,
    person_table,
    score_pairs,
)
from engine.incremental.frame import NOT_COMPARED, Columns, recount
from engine.incremental.match import Match
from engine.incremental.scoring import (
    COUNTED_NAMES,
    counts_read_per_record,
)
from engine.incremental.state import (
    CODES_FILE,
    FORMAT,
    FORMAT_VERSION,
    KEYS_FILE,
    PLACE_PREFIX,
    PREPARED_FILE,
    SAMPLE_FILE,
    STATE_FILE,
    settings_from_dict,
    write_state,
)
from engine.incremental.tables import (
    TABLES_VERSION,
    Tables,
    column_batch,
    dense_columns,
    utf8_column,
)
from engine.record import Record, record_key
from engine.resolve.block_index import RuleIndex, hash_keys, key_strings
from engine.resolve.blocking import BlockingRule
from engine.resolve.cluster import HOUSEHOLD_LOGODDS
from engine.resolve.explain import explain_features, with_crowded_cap, with_household_evidence
from engine.resolve.pipeline import MatchModel, Resolution, ResolveSettings
from engine.resolve.prepare import PREPARED_COLUMNS, nid_number
from engine.resolve.prepare_one import (
    CODE_KINDS,
    KNOWN_COLUMNS,
    SAMPLE_SIZE,
    RegistryContext,
    build_context,
    canonical_values,
    context_columns,
    fill_counts,
    fill_households,
    own_nid_links,
    prepare_one,
    prepare_one_mismatches,
    refresh_context,
    remember,
    sample_records,
)

log = logging.getLogger(__name__)

__all__ = ["IncrementalError", "IncrementalResolver", "Match"]


class IncrementalResolver:
    """Resolves new records against the persons of a finished batch (see the module docstring).

    Build it with :meth:`from_resolution` (right after a batch) or :meth:`load` (from what the
    batch saved with :meth:`save`).
    """

    def __init__(
        self,
        prepared: pd.DataFrame,
        person_ids: np.ndarray,
        context: RegistryContext,
        indexes: Sequence[RuleIndex],
        model: MatchModel,
        settings: ResolveSettings,
        sample: pd.DataFrame | None = None,
    ) -> None:
        self.model = model
        self.settings = settings
        self.context = context
        self._table: pa.Table | None = None  # the memory-mapped tables instead (:meth:`load`)
        self._prepared = prepared.reset_index(drop=True)
        self._columns = list(self._prepared.columns)
        self._arrays = {c: self._prepared[c].to_numpy() for c in self._columns}
        self._dtypes = {c: self._prepared[c].dtype for c in self._columns}
        self._integer = {c: self._prepared[c].dtype.kind in "iu" for c in self._columns}
        self._base = len(self._prepared)
        self._added: list[dict[str, Any]] = []
        self._person = np.asarray(person_ids, dtype=object)
        self._added_person: list[str] = []
        self._indexes = list(indexes)
        keys = [
            record_key(s, r)
            for s, r in zip(self._arrays["source"], self._arrays["record_id"], strict=True)
        ]
        self._position = {k: i for i, k in enumerate(keys)}
        self._person_rows: dict[str, list[int]] = {
            str(p): rows.tolist()
            for p, rows in pd.Series(np.arange(self._base)).groupby(self._person).indices.items()
        }
        self._sample = sample
        self.fast = self._check_fast_path(sample)
        self._per_record_counts = counts_read_per_record(self._prepared)

    def _check_fast_path(
        self, sample: pd.DataFrame | None, differ: list[str] | None = None
    ) -> bool:
        """Whether :func:`prepare_one` gives the batch's prepared rows for a sample of its records
        (``sample``: canonical records with their ``row`` in the batch). When it does not (prepare
        has changed since this module was written), records are prepared with ``prepare`` itself
        and only the context columns here: slower, and still the batch's answer."""
        unknown = sorted(set(self._columns) ^ set(KNOWN_COLUMNS))
        if unknown:
            log.warning(
                "prepare() and the incremental resolver disagree on the columns %s: records are "
                "prepared with prepare() itself (slower)",
                unknown,
            )
            return False
        if sample is None or sample.empty:
            return True
        if differ is None:  # not checked by this code when the state was written
            rows = sample["row"].to_numpy(np.int64)
            prepared = pd.DataFrame(self._take(rows))
            differ = prepare_one_mismatches(
                sample.assign(row=np.arange(len(sample))), prepared, self.context
            )
        if differ:
            log.warning(
                "prepare_one() differs from prepare() on %s: records are prepared with prepare() "
                "itself (slower); update engine.incremental.resolver.record_columns",
                differ,
            )
            return False
        return True

    # -- building, saving, loading

    @classmethod
    def from_resolution(
        cls,
        resolution: Resolution,
        person_ids: pd.Series | np.ndarray | pd.DataFrame,
        model: MatchModel,
        settings: ResolveSettings | None = None,
        *,
        records: pd.DataFrame,
        prepared: pd.DataFrame | None = None,
    ) -> IncrementalResolver:
        """The resolver of a finished batch.

        Parameters
        ----------
        resolution:
            What :func:`engine.resolve.pipeline.resolve` returned.
        person_ids:
            The person ID of every record: aligned with ``resolution.prepared`` (a Series or array,
            row ``i`` = record ``i``), or a frame with ``source``, ``record_id``, ``person_id``.
        model:
            The model the batch scored with.
        settings:
            The batch's settings (default :class:`ResolveSettings`).
        records:
            The canonical records the batch resolved, in the order given to ``resolve`` (prepare
            codes geography, households and BRNs from their raw values).
        prepared:
            The batch's full prepared frame, blocking-key lists included, when the caller kept it.
            ``resolve`` drops the list columns (:data:`engine.resolve.prepare.LIST_COLUMNS`) from
            ``resolution.prepared``; without this frame they are prepared again from ``records``.

        Raises
        ------
        IncrementalError
            If the person IDs or the records do not line up with the prepared records.
        """
        started = time.perf_counter()
        settings = settings or ResolveSettings()
        parts = cls._batch_parts(resolution, person_ids, settings, records, prepared)
        resolver = cls(*parts[:4], model, settings, parts[4])
        log.info(
            "incremental resolver over %d records built in %.1fs",
            len(resolver),
            time.perf_counter() - started,
        )
        return resolver

    @classmethod
    def write_batch(
        cls,
        folder: Path | str,
        resolution: Resolution,
        person_ids: pd.Series | np.ndarray | pd.DataFrame,
        model: MatchModel,
        settings: ResolveSettings | None = None,
        *,
        records: pd.DataFrame,
        prepared: pd.DataFrame | None = None,
    ) -> Path:
        """Save the resolver of a finished batch into ``folder`` without building it in memory.

        Writes what ``from_resolution(...).save(folder)`` writes (same arguments), in less time and
        memory: the batch needs the files, not a resolver (:meth:`load` checks the fast path when
        the API starts).
        """
        started = time.perf_counter()
        settings = settings or ResolveSettings()
        prepared, ids, context, indexes, sample = cls._batch_parts(
            resolution, person_ids, settings, records, prepared
        )
        # a frame of its own (columns shared, not copied): the person IDs are added to it
        prepared = pd.DataFrame({c: prepared[c].to_numpy() for c in prepared.columns}, copy=False)
        out = write_state(folder, prepared, ids, context, indexes, sample, model, settings)
        log.info(
            "incremental index of %d records written in %.1fs",
            len(prepared),
            time.perf_counter() - started,
        )
        return out

    @classmethod
    def _batch_parts(
        cls,
        resolution: Resolution,
        person_ids: pd.Series | np.ndarray | pd.DataFrame,
        settings: ResolveSettings,
        records: pd.DataFrame,
        prepared: pd.DataFrame | None,
    ) -> tuple[pd.DataFrame, np.ndarray, RegistryContext, list[RuleIndex], pd.DataFrame]:
        """The prepared frame (list columns included), person IDs, context, indexes and sample
        of a finished batch."""
        prepared = resolution.prepared if prepared is None else prepared
        ids = cls._aligned_ids(prepared, person_ids)
        if len(records) != len(prepared) or not np.array_equal(
            records["record_id"].astype(str).to_numpy(), prepared["record_id"].to_numpy()
        ):
            raise IncrementalError(
                f"The records ({len(records)}) are not the {len(prepared)} records the batch "
                "resolved, in its order; pass the frame given to resolve()."
            )
        needed = {c for rule in settings.rules for c in (*rule.columns, *rule.refine)}
        needed |= set(KNOWN_COLUMNS)
        missing = [c for c in PREPARED_COLUMNS if c in needed and c not in prepared.columns]
        if missing:
            from engine.resolve.prepare import prepare

            log.info("preparing the records again for the blocking columns %s", missing)
            fresh = prepare(records)
            prepared = prepared.assign(**{c: fresh[c].to_numpy() for c in missing})
            prepared = prepared[[c for c in fresh.columns if c in prepared.columns]]
        context = build_context(records, prepared, resolution.namesakes)
        indexes = [RuleIndex.build(rule, prepared) for rule in settings.rules]
        sample = sample_records(records, SAMPLE_SIZE)
        return prepared, ids, context, indexes, sample

    @staticmethod
    def _aligned_ids(
        prepared: pd.DataFrame, person_ids: pd.Series | np.ndarray | pd.DataFrame
    ) -> np.ndarray:
        if isinstance(person_ids, pd.DataFrame):
            keyed = person_ids.drop_duplicates(["source", "record_id"]).set_index(
                ["source", "record_id"]
            )["person_id"]
            index = pd.MultiIndex.from_arrays([prepared["source"], prepared["record_id"]])
            ids = keyed.reindex(index).to_numpy(dtype=object)
        else:
            ids = np.asarray(person_ids, dtype=object)
        if len(ids) != len(prepared):
            raise IncrementalError(
                f"Got {len(ids)} person IDs for {len(prepared)} records; give one per record."
            )
        missing = pd.isna(ids)
        if missing.any():
            first = int(np.flatnonzero(missing)[0])
            raise IncrementalError(
                f"Record {prepared['source'].iat[first]}/{prepared['record_id'].iat[first]} has no "
                f"person ID ({int(missing.sum())} records lack one)."
            )
        return np.asarray([str(i) for i in ids], dtype=object)

    def save(self, folder: Path | str) -> Path:
        """Write the resolver's state (see the module docstring) into ``folder``; returns it."""
        prepared = self._all_prepared()
        if self._added:
            refresh_context(prepared, self.context)
        person = self._person
        if self._table is not None:
            person = self._table.column("person_id").to_numpy(zero_copy_only=False)
        person = np.concatenate([person, np.asarray(self._added_person, dtype=object)])
        return write_state(
            folder,
            prepared,
            person,
            self.context,
            self._indexes,
            self._sample,
            self.model,
            self.settings,
        )

    @classmethod
    def load(cls, folder: Path | str, model: MatchModel) -> IncrementalResolver:
        """The resolver saved in ``folder`` by :meth:`save`, scoring with ``model``.

        Raises
        ------
        IncrementalError
            If the folder holds no saved resolver, one of another format version, or a file of it
            that cannot be read (damaged, or cut short: the message names it).
        """
        folder = Path(folder)
        path = folder / STATE_FILE
        if not path.exists():
            raise IncrementalError(f"No incremental resolver in {folder}: run the batch first.")
        state = _saved(path, lambda p: json.loads(p.read_text(encoding="utf-8")))
        if state.get("format") != FORMAT or state.get("format_version") != FORMAT_VERSION:
            raise IncrementalError(
                f"{path} is {state.get('format')!r} version {state.get('format_version')!r}, "
                f"written by an older ekjon; this ekjon reads {FORMAT!r} version "
                f"{FORMAT_VERSION}. Run `ekjon resolve` again to write it anew."
            )
        version = getattr(model, "model_version", None)
        if state.get("model_version") and version and state["model_version"] != version:
            log.warning(
                "the batch in %s scored with model %s, this resolver with %s: answers may differ",
                folder,
                state["model_version"],
                version,
            )
        settings = settings_from_dict(state["settings"])
        sample_path = folder / SAMPLE_FILE
        sample = _saved(sample_path, pd.read_parquet) if sample_path.exists() else None
        if state.get("tables") == TABLES_VERSION and Tables.present(folder):
            return cls._opened(Tables(folder, state["records"]), model, settings, sample)
        prepared = _saved(folder / PREPARED_FILE, pd.read_parquet)
        person = prepared.pop("person_id").to_numpy(dtype=object)
        keys = _saved(folder / KEYS_FILE, pd.read_parquet)
        indexes = []
        for rule in settings.rules:
            part = keys[keys["rule"] == rule.name]
            indexes.append(
                RuleIndex(
                    rule,
                    part["hash"].to_numpy(np.uint64),
                    part["record"].to_numpy(np.int64),
                )
            )
        codes = _saved(folder / CODES_FILE, pd.read_parquet)
        context = RegistryContext({k: {} for k in CODE_KINDS}, {}, {}, {}, {}, set())
        for kind, value, code, target in codes.itertuples(index=False):
            if kind == "nid_link":
                context.nid_links[value] = target
            elif kind.startswith(PLACE_PREFIX):
                child, _, parent = kind.removeprefix(PLACE_PREFIX).partition(">")
                context.places.parents.setdefault((child, parent), {})[value] = target
            else:
                context.codes.setdefault(kind, {})[value] = int(code)
        fill_counts(context, prepared)
        fill_households(context, prepared)
        _check_columns(folder, list(prepared.columns))
        return cls(prepared, person, context, indexes, model, settings, sample)

    @classmethod
    def _opened(
        cls,
        tables: Tables,
        model: MatchModel,
        settings: ResolveSettings,
        sample: pd.DataFrame | None,
    ) -> IncrementalResolver:
        """The resolver over memory-mapped tables: rows are read where a record's candidates
        are, lookups are binary searches (:mod:`engine.incremental.tables`)."""
        self = cls.__new__(cls)
        self.model = model
        self.settings = settings
        self.context = tables.context()
        self._table = tables.prepared
        self._prepared = None  # type: ignore[assignment]
        self._arrays = None  # type: ignore[assignment]
        self._columns = [c for c in self._table.column_names if c != "person_id"]
        _check_columns(tables.folder, self._columns)
        empty = self._table.select(self._columns).slice(0, 0).to_pandas()
        self._dtypes = {c: empty[c].dtype for c in self._columns}
        self._integer = {c: empty[c].dtype.kind in "iu" for c in self._columns}
        self._base = self._table.num_rows
        self._dense = dense_columns(self._table, self._columns)
        # columns of no value at all (Arrow's null type): None for every row, as Arrow gives
        self._missing = {
            c for c in self._columns if pa.types.is_null(self._table.schema.field(c).type)
        }
        self._batches: dict[tuple[str, ...], pa.RecordBatch | pa.Table] = {}
        self._added = []
        self._person = None  # type: ignore[assignment]
        self._added_person = []
        self._person_text = utf8_column(self._table.column("person_id"))
        self._indexes = tables.indexes(settings.rules)
        self._position = tables.positions()  # type: ignore[assignment]
        self._person_rows = tables.person_rows()  # type: ignore[assignment]
        self._sample = sample
        self.fast = self._check_fast_path(sample, tables.checked("prepare_one_differs"))
        per_record = tables.checked("counts_read_per_record")
        if per_record is None:
            per_record = counts_read_per_record(
                pd.DataFrame(self._take(np.arange(min(self._base, 1))))
            )
        self._per_record_counts = per_record
        return self

    # -- reading rows

    def knows(self, key: str) -> bool:
        """Whether the record ``source/record_id`` is among the resolver's (batch or added)."""
        return key in self._position

    def __len__(self) -> int:
        return self._base + len(self._added)

    def _value(self, column: str, row: int) -> Any:
        if row < self._base:
            if self._arrays is None:
                return self._take(np.asarray([row]), [column])[column][0]
            return self._arrays[column][row]
        return self._added[row - self._base][column]

    def _take(self, rows: np.ndarray, columns: Sequence[str] | None = None) -> dict[str, Any]:
        """The batch's ``rows`` (positions below ``len`` of the batch), column by column."""
        columns = self._columns if columns is None else columns
        if self._arrays is not None:
            return {c: self._arrays[c][rows] for c in columns}
        assert self._table is not None
        # each column as to_pandas() converts it (what the Parquet path reads), without the
        # DataFrame: a few milliseconds less a record; the fixed-width columns are indexed in
        # NumPy and the all-missing ones filled (tables.dense_columns), the rest taken by Arrow
        # from one record batch (tables.column_batch)
        dense = self._dense
        out = {}
        rest = []
        for c in columns:
            values = dense.get(c)
            if values is not None:
                out[c] = values[rows]
            elif c in self._missing:
                out[c] = np.full(len(rows), None, dtype=object)
            else:
                rest.append(c)
        if rest:
            batch = self._batches.get(tuple(rest))
            if batch is None:
                batch = self._batches[tuple(rest)] = column_batch(self._table, rest)
            taken = batch.take(pa.array(rows, pa.int64()))
            if isinstance(taken, pa.RecordBatch):
                out.update(
                    (c, taken.column(i).to_numpy(zero_copy_only=False)) for i, c in enumerate(rest)
                )
            else:
                out.update((c, taken.column(c).to_numpy()) for c in rest)
        return {c: out[c] for c in columns}

    def _row(self, row: int) -> dict[str, Any]:
        return {c: self._value(c, row) for c in self._columns}

    def _person_of(self, row: int) -> str:
        if row >= self._base:
            return self._added_person[row - self._base]
        if self._table is not None:
            return str(self._table.column("person_id")[row].as_py())
        return self._person[row]

    def _persons_of(self, rows: list[int]) -> list[str]:
        """:meth:`_person_of` of each of ``rows``: the memory-mapped table's in one ``take``
        (reading a chunked column one value at a time costs a few microseconds a value, and a
        record's candidates are dozens)."""
        if self._table is None or self._table.column("person_id").num_chunks != 1:
            return [self._person_of(r) for r in rows]
        saved = [r for r in rows if r < self._base]
        if not saved:
            taken = iter(())
        elif self._person_text is not None:  # sliced from the column's buffers
            taken = iter(self._person_text.texts(saved))
        else:
            column = self._table.column("person_id").chunk(0)
            taken = iter(column.take(pa.array(saved, pa.int64())).to_pylist())
        return [
            str(next(taken)) if r < self._base else self._added_person[r - self._base] for r in rows
        ]

    def _all_prepared(self) -> pd.DataFrame:
        if self._table is not None:
            batch = self._table.select(self._columns).to_pandas()
        else:
            batch = self._prepared
        if not self._added:
            return batch.copy()
        added = pd.DataFrame(self._added, columns=self._columns)
        for column in self._columns:
            if self._dtypes[column] != np.dtype(object):
                added[column] = added[column].astype(self._dtypes[column])
        return pd.concat([batch, added], ignore_index=True)

    def _frame(
        self, new: Mapping[str, Any], rows: np.ndarray, own_links: Mapping[str, str]
    ) -> Columns:
        """The prepared columns (column -> array) of the new row followed by ``rows`` (ascending),
        context columns counted with the new row: what compare reads, without a frame (the
        columns of :data:`NOT_COMPARED` are taken when first read)."""
        base = rows[rows < self._base]
        extra = rows[rows >= self._base]
        compared = [c for c in self._columns if c not in NOT_COMPARED]
        taken = self._take(base, compared)
        data = {c: self._joined(c, new[c], taken[c], extra) for c in compared}
        recount(data, new, own_links, self.context)
        if self._per_record_counts:
            # compare reads name counts per record of the frame it is given; this frame stands
            # for the whole data with the new record in it
            share = (len(rows) + 1) / (len(self) + 1)
            for column in COUNTED_NAMES:
                data[column] = data[column].astype(np.float64) * share
        return Columns(
            data,
            self._columns,
            lambda c: self._joined(c, new[c], self._take(base, [c])[c], extra),
        )

    def _joined(self, column: str, head: Any, values: np.ndarray, extra: np.ndarray) -> np.ndarray:
        """One column of a record's frame: the new row's value ``head``, the batch's rows'
        ``values``, then the added ``extra`` rows' (as one concatenation of the three gives)."""
        dtype = self._dtypes[column]
        if not len(extra) and values.dtype == dtype:
            whole = np.empty(len(values) + 1, dtype=dtype)
            whole[0] = head
            whole[1:] = values
            return whole
        first = np.empty(1, dtype=dtype)
        first[0] = head
        parts = [first, values]
        if len(extra):
            tail = np.empty(len(extra), dtype=dtype)
            for i, r in enumerate(extra):
                tail[i] = self._added[r - self._base][column]
            parts.append(tail)
        return np.concatenate(parts)

    # -- blocking

    def _blocked(self, new: Mapping[str, Any], own_links: Mapping[str, str]) -> dict[int, int]:
        """Rows sharing a blocking key with the new row -> bit mask of the rules that found them."""
        found: dict[int, int] = {}
        keys = [key_strings(new, index.rule.columns, self._integer) for index in self._indexes]
        for index, rule_keys in zip(self._indexes, keys, strict=True):
            rule_keys += [k for k, _ in self._smart_keys(own_links, index.rule)]
        hashes = iter(hash_keys([k for rule_keys in keys for k in rule_keys]))  # all at once
        for bit, index in enumerate(self._indexes):
            rule = index.rule
            for _ in keys[bit]:
                hashed = next(hashes)  # numpy's uint64: a Python int would cost 5 ms a look-up
                members = index.members(hashed)
                if len(members) == 0:
                    continue
                if len(members) + 1 <= rule.max_block:
                    chosen = members
                elif rule.refine:
                    chosen = self._refined(new, members, rule)
                else:
                    chosen = members[:0]
                for row in chosen.tolist():
                    found[row] = found.get(row, 0) | (1 << bit)
        return found

    def _smart_keys(
        self, own_links: Mapping[str, str], rule: BlockingRule
    ) -> list[tuple[str, str]]:
        """``(smart key, core key)`` of a NID rule where records still carry a smart-card number
        that the new record links to its core (it carries both forms and the batch had no record
        that did)."""
        if tuple(rule.columns) != ("nid_key",):
            return []
        return [
            (str(nid_number(smart)), str(nid_number(core)))
            for smart, core in own_links.items()
            if smart not in self.context.nid_links
        ]

    def _refined(
        self, new: Mapping[str, Any], members: np.ndarray, rule: BlockingRule
    ) -> np.ndarray:
        """Members of an oversized block that share the new row's refine key (if that block is
        small enough), as :func:`engine.resolve.blocking._refined_pairs` keeps them."""
        wanted = set(key_strings(new, rule.refine, self._integer))
        if not wanted:
            return members[:0]
        by_key: dict[str, list[int]] = {}
        unique = np.unique(members)
        base = unique[unique < self._base]
        taken = self._take(base, rule.refine)
        for i, row in enumerate(unique.tolist()):
            if row < self._base:
                values = {c: taken[c][i] for c in rule.refine}
            else:
                values = {c: self._value(c, row) for c in rule.refine}
            for key in set(key_strings(values, rule.refine, self._integer)) & wanted:
                by_key.setdefault(key, []).append(row)
        chosen = [rows for rows in by_key.values() if len(rows) + 1 <= rule.max_block]
        if not chosen:
            return members[:0]
        return np.unique(np.concatenate([np.asarray(r, dtype=np.int64) for r in chosen]))

    # -- resolving

    def prepare(self, record: Mapping[str, Any] | Record) -> dict[str, Any]:
        """The prepared row of ``record`` in this resolver's context."""
        values = canonical_values(record)
        if self.fast:
            return prepare_one(values, self.context)
        from engine.resolve.prepare import prepare

        row = prepare(pd.DataFrame([values]), workers=1).iloc[0].to_dict()
        context_columns(row, values, self.context)
        return {c: row.get(c) for c in self._columns}

    def resolve_one(self, record: Mapping[str, Any] | Record, *, explain: bool = True) -> Match:
        """Where ``record`` belongs among the existing persons (nothing is remembered).

        Parameters
        ----------
        record:
            A canonical record (:class:`~engine.record.Record` or a mapping of its fields; cleaned
            values). A record whose key is already known is resolved as if its old version were
            not there.
        explain:
            Attach the explanation of the best link (a few milliseconds more).

        Returns
        -------
        Match
        """
        started = time.perf_counter()
        values = canonical_values(record)
        new = self.prepare(values)
        own_links = own_nid_links(values)
        key = record_key(new["source"], new["record_id"])
        blocked = self._blocked(new, own_links)
        blocked.pop(self._position.get(key, -1), None)
        match = self._decide(key, new, blocked, own_links, explain)
        match.seconds = time.perf_counter() - started
        match.state = (id(self), len(self))
        return match

    def add(
        self,
        record: Mapping[str, Any] | Record,
        person_id: str | None = None,
        *,
        explain: bool = True,
        match: Match | None = None,
    ) -> Match:
        """Resolve ``record`` and remember it: later calls can be blocked with and join it.

        Parameters
        ----------
        record:
            A canonical record not yet known to the resolver.
        person_id:
            The person to file it under (e.g. a stable ID the caller minted for a new person, or a
            reviewer's choice). Default: the matched person, or ``new:<source/record_id>`` for a
            new person.
        match:
            This resolver's :meth:`resolve_one` answer for ``record``, when the caller has it
            (e.g. :func:`~engine.incremental.register.register_record`): if no record was added
            since, it is the answer and the record is not resolved again (``explain`` is then
            moot). An answer of another record, another resolver or an older state is ignored.

        Raises
        ------
        IncrementalError
            If a record with the same key is already known (an updated record needs the batch).
        """
        values = canonical_values(record)
        key = record_key(str(values["source"]), str(values["record_id"]))
        if key in self._position:
            raise IncrementalError(
                f"Record {key} is already known; an updated record is resolved by the next batch."
            )
        if match is not None and match.record == key and match.state == (id(self), len(self)):
            match = replace(match)  # the caller's answer keeps its own person
        else:
            match = self.resolve_one(values, explain=explain)
        pid = person_id or match.person_id or f"new:{key}"
        row = self.prepare(values)
        position = len(self)
        self._added.append(row)
        self._added_person.append(pid)
        self._position[key] = position
        self._person_rows.setdefault(pid, []).append(position)
        for index in self._indexes:
            keys = key_strings(row, index.rule.columns, self._integer)
            for hashed in hash_keys(keys).tolist() if keys else []:
                index.add(hashed, position)
            for smart_key, core_key in self._smart_keys(own_nid_links(values), index.rule):
                # records keyed on this smart card are from now on found by its core too
                smart_hash, core_hash = hash_keys([smart_key, core_key])
                for member in index.members(smart_hash).tolist():
                    index.add(core_hash, member)
        remember(row, values, self.context)
        match.person_id = pid
        return match

    def refile(self, key: str, person_id: str) -> None:
        """File the record ``key``, remembered by :meth:`add`, under ``person_id`` instead (a new
        person's lasting ID, once the ledger gave it). Raises IncrementalError for another key."""
        position = self._position.get(key)
        if position is None or position < self._base:
            raise IncrementalError(f"Record {key} was not added to this resolver.")
        before = self._added_person[position - self._base]
        rows = self._person_rows.setdefault(before, [])
        rows.remove(position)
        if not rows:
            self._person_rows.pop(before, None)
        bisect.insort(self._person_rows.setdefault(person_id, []), position)
        self._added_person[position - self._base] = person_id

    def _decide(
        self,
        key: str,
        new: Mapping[str, Any],
        blocked: Mapping[int, int],
        own_links: Mapping[str, str],
        explain: bool,
    ) -> Match:
        if not blocked:
            return Match(key, None, True, 0.0, -math.inf, {}, [])
        blocked_rows = list(blocked)
        person_of = dict(zip(blocked_rows, self._persons_of(blocked_rows), strict=True))
        persons = set(person_of.values())
        rows = set(blocked_rows)
        # each candidate person's records, looked up once (a binary search in the saved tables)
        person_rows = {pid: self._person_rows.get(pid, []) for pid in persons}
        for members in person_rows.values():
            if len(members) + 1 <= self.settings.complete_max:
                rows.update(members)
        rows.discard(self._position.get(key, -1))
        scored_rows = np.asarray(sorted(rows), dtype=np.int64)
        frame = self._frame(new, scored_rows, own_links)
        n = len(scored_rows)
        scored = score_pairs(
            self.model, frame, np.zeros(n, np.int64), np.arange(1, n + 1), explain=explain
        )
        probability, cannot = scored.probability, scored.cannot
        weight = crowded_weights(frame, scored, self.context.namesakes, self.knows)
        scored_list = scored_rows.tolist()
        rest = [r for r in scored_list if r not in person_of]  # the candidates' other records
        person_of.update(zip(rest, self._persons_of(rest), strict=True))
        person = [person_of[r] for r in scored_list]
        capped = weight  # before household evidence raises any
        raised = np.zeros(n, dtype=bool)
        if self.settings.household_rounds:  # the batch's household evidence, as it has it
            raised = household_links(
                frame,
                scored_rows,
                person,
                probability,
                cannot,
                own=self._position.get(key, -1),
                members=lambda code, source: [
                    self._position.get(record_key(source, str(rid)), -1)
                    for rid in self.context.households.get(code, {})
                ],
                persons_of=self._persons_of,
                person_rows=self._person_rows,
                frame_of=lambda rows: self._frame(new, rows, own_links),
            )
            weight = np.where(raised, np.maximum(weight, HOUSEHOLD_LOGODDS), weight)
        masks = [blocked.get(r, 0) for r in scored_rows.tolist()]
        table = person_table(
            person,
            weight,
            probability,
            cannot,
            masks,
            person_rows=ChainMap(person_rows, self._person_rows),
            link_threshold=self.settings.link_threshold,
        )
        strong = [e for e in table if e["strong_link"]]
        merges: list[str] = []
        decided_by = "average link"
        if not strong:
            person_id = None
        elif len(strong) == 1 and strong[0]["qualifies"]:
            person_id = strong[0]["person_id"]
        else:
            decided_by = "linkage"
            person_id, merges = self._linkage(new, strong, own_links)
        for entry in table:
            entry["joins"] = entry["person_id"] == person_id or entry["person_id"] in merges
        table.sort(key=lambda e: not e["joins"])  # stable: the rest stay best first
        best = table[0]
        average = best["mean_log_odds"]
        order = sorted(
            range(len(person)), key=lambda i: (person[i] != best["person_id"], -weight[i])
        )
        candidates: dict[str, Any] = {
            "source": frame["source"][1:][order],
            "record_id": frame["record_id"][1:][order],
            "person_id": np.asarray(person, dtype=object)[order],
            "probability": probability[order],
            "weight": weight[order],
            "cannot_link": cannot[order],
            "blocked": np.asarray([m != 0 for m in masks])[order],
            "rules": [self._rule_names(masks[i]) for i in order],
        }
        explanation = None
        if explain:
            top = order[0]
            explanation = explain_features(
                scored.features_of(top),
                self.model,
                left=key,
                right=record_key(candidates["source"][0], candidates["record_id"][0]),
                probability=float(probability[top]),
                threshold=self.settings.link_threshold,
                cross_script=cross_script(frame, 0, top + 1),
                contributions=scored.contributions_of(top),
            )
            if scored.weight[top] > capped[top]:  # capped: said so, as `ekjon explain` says it
                uncounted = None if self.knows(key) else 0
                explanation = with_crowded_cap(
                    explanation, frame, 0, top + 1, self.context.namesakes, uncounted=uncounted
                )
            if raised[top]:
                explanation = with_household_evidence(explanation)
        return Match(
            record=key,
            person_id=person_id,
            new_person=person_id is None,
            probability=float(1.0 / (1.0 + math.exp(-average))) if math.isfinite(average) else 0.0,
            log_odds=average,
            candidate_columns=candidates,
            person_rows=table,
            explanation=explanation,
            merges=merges,
            decided_by=decided_by,
        )

    def _linkage(
        self,
        new: Mapping[str, Any],
        strong: Sequence[Mapping[str, Any]],
        own_links: Mapping[str, str],
    ) -> tuple[str | None, list[str]]:
        """The clustering's own decision over the record and every person it links strongly to.

        The batch would put the record in one component with these persons and, since the
        component is not a clean clique, split it by constrained average linkage
        (:func:`engine.resolve.cluster.average_linkage`): the record may bridge two persons (they
        merge),
        or pull a record away from its person. Every pair among the records is scored and the
        linkage run; the record's group gets the ID the identity ledger would give it
        (:func:`ledger_choice`). Returns that person (``None``: a new person) and the other
        persons with records in the group (the next batch merges them, or moves those records).
        """
        from engine.resolve.blocking import pairs_within_blocks
        from engine.resolve.cluster import average_linkage, key_order

        rows = sorted({r for e in strong for r in self._person_rows.get(e["person_id"], ())})
        if len(rows) + 1 > self.settings.max_linkage_size:
            best = next((e for e in strong if e["qualifies"]), None)
            return (None if best is None else best["person_id"]), []
        local = np.asarray(rows, dtype=np.int64)
        frame = self._frame(new, local, own_links)
        size = len(local) + 1
        left, right = pairs_within_blocks(
            np.arange(size, dtype=np.int64), np.zeros(size, dtype=np.int64)
        )
        scored = score_pairs(self.model, frame, left, right, explain=False)
        weight = crowded_weights(frame, scored, self.context.namesakes, self.knows, left, right)
        keys = [
            record_key(str(s), str(r))
            for s, r in zip(frame["source"], frame["record_id"], strict=True)
        ]
        # ties go by record key, as in the batch (the new record is not first there)
        order = key_order(np.asarray(keys, dtype=object))
        labels = average_linkage(size, left, right, weight, scored.cannot, order=order)
        persons = ["", *self._persons_of(local.tolist())]
        person_id = ledger_choice(labels, persons, keys, self._person_rows)
        group = np.flatnonzero(labels == labels[0])[1:]
        merges = sorted({persons[i] for i in group} - {person_id})
        return person_id, merges

    def _rule_names(self, mask: int) -> str:
        return ",".join(i.rule.name for bit, i in enumerate(self._indexes) if mask >> bit & 1)


def _saved(path: Path, read: Callable[[Path], Any]) -> Any:
    """One file of the saved state, read; a damaged or cut-short file is an
    :class:`IncrementalError` naming it and what to do."""
    import pyarrow as pa

    try:
        return read(path)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise IncrementalError(
            f"{path} cannot be read ({type(exc).__name__}: {exc}): the one-record resolver's "
            "saved index is damaged or was cut short. Run `ekjon resolve` again to write it anew."
        ) from None


def _check_columns(folder: Path, columns: Sequence[str]) -> None:
    """Refuse, saying what to run, a saved state whose prepared records lack columns this
    ekjon's comparison reads (it was written by an older ekjon)."""
    missing = sorted(set(KNOWN_COLUMNS) - set(columns))
    if missing:
        raise IncrementalError(
            f"The one-record resolver's index in {folder} was written by an older ekjon (its "
            f"records lack {', '.join(missing)}). Run `ekjon resolve` again to write it anew."
        )
