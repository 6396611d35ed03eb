"""A record's frame in the one-record resolver: the prepared columns of the record and its
candidates, column -> array (the record first), read lazily where comparing does not need them
(:class:`Columns`), with the candidates' counts as a batch with the record would count them
(:func:`recount`).
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final

import numpy as np

from engine.resolve.prepare import PLACE_COUNTS, nid_number
from engine.resolve.prepare_one import RegistryContext, first_name_key, first_of, full_name_of

#: Prepared columns that comparing a record's pairs does not read (compare, the recounted counts,
#: household evidence, the crowded cap): the blocking keys and a few columns the batch keeps. A
#: record's frame takes them only when asked for (:class:`Columns`); the list columns cost most.
NOT_COMPARED: Final = frozenset(
    {
        "kind",
        "token_keys",
        "full_keys",
        "father_key",
        "dob_swappable",
        "birth_years",
        "birth_decade",
        "dob_keys",
        "nid_linked",
        "numbers",
        "id_keys",
    }
)


class Columns(Mapping[str, np.ndarray]):
    """A record's frame, column -> array (the record first, then its candidates): the columns
    in ``data`` as given, every other of ``names`` made by ``later(name)`` when first read."""

    def __init__(
        self,
        data: dict[str, np.ndarray],
        names: Sequence[str],
        later: Callable[[str], np.ndarray],
    ) -> None:
        self._data = data
        self._names = list(names)
        self._known = frozenset(self._names)
        self._later = later

    def __getitem__(self, name: str) -> np.ndarray:
        values = self._data.get(name)
        if values is None:
            if name not in self._known:
                raise KeyError(name)
            values = self._data[name] = self._later(name)
        return values

    def __contains__(self, name: object) -> bool:
        return name in self._known

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def recount(
    data: dict[str, np.ndarray],
    new: Mapping[str, Any],
    own_links: Mapping[str, str],
    context: RegistryContext,
) -> None:
    """The counted columns of a record's candidates, as a batch with the new record ``new`` would
    count them in ``context`` (``data`` holds fresh arrays; they are changed in place)."""
    full_new, first_new = full_name_of(new), first_name_key(new)
    numbers_new = {n for n in (new["phone"], new["wallet"]) if n >= 0}
    en, bn, keys = data["name_en"], data["name_bn"], data["name_keys"]
    name_freq, given_freq = data["name_freq"], data["given_freq"]
    names = {c: data[c] for c in ("phone_names", "wallet_names")}
    numbers = {"phone_names": data["phone"], "wallet_names": data["wallet"]}
    adds_name = {
        n
        for n in numbers_new
        if first_new is not None and (n, first_new) not in context.number_pairs
    }
    # read as lists and bound methods: a record's few dozen candidates each look up about
    # eight counts, and NumPy's scalars cost more than the look-ups
    places = [
        (data[column], data[place].tolist(), place, new[place])
        for column, place in PLACE_COUNTS.items()
    ]
    owners = [(names[c], numbers[c].tolist()) for c in names]
    name_count, place_count = context.name_counts.get, context.place_names.get
    given_count, number_count = context.given_counts.get, context.number_names.get
    en, bn, keys = list(en), list(bn), list(keys)
    for i in range(1, len(en)):
        full = en[i] if en[i] is not None else bn[i]
        if full is not None:
            name_freq[i] = name_count(full, 0) + (full == full_new)
            for counts, codes, place, code_new in places:
                code = int(codes[i])
                if code >= 0:
                    same = full == full_new and code == code_new
                    counts[i] = place_count((place, full, code), 0) + same
        first = first_of(keys[i])
        if first is not None:
            given_freq[i] = given_count(first, 0) + (first == first_new)
        for counts, values in owners:
            number = int(values[i])
            if number >= 0:
                counts[i] = max(number_count(number, 0) + (number in adds_name), 1)
    # smart-card NIDs linked to their core since the batch (by an added or the new record)
    links = ChainMap(context.nid_links, dict(own_links))
    text, key = data["nid_text"], data["nid_key"]
    for i in range(1, len(text)):
        t = text[i]
        if t is not None and len(t) == 10 and t in links:
            text[i] = links[t]
            key[i] = nid_number(links[t])
