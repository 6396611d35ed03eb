"""The one pause of the cycle collector that loads, publishes and queries share."""

from __future__ import annotations

import gc

import pytest

from ekjon.collector import cycle_collection_paused
from graph.queries._common import without_gc


def test_the_collector_is_paused_inside_and_back_on_after_even_on_an_error() -> None:
    assert gc.isenabled()
    with cycle_collection_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ValueError), cycle_collection_paused():
        raise ValueError("a load that fails")
    assert gc.isenabled()


def test_a_collector_already_off_is_left_off() -> None:
    gc.disable()
    try:
        with cycle_collection_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_query_runs_with_the_collector_paused() -> None:
    seen = without_gc(gc.isenabled)()
    assert seen is False and gc.isenabled()
