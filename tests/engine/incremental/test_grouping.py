"""Group commit: items handed in while a group is being done go together in the next one."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from engine.incremental.grouping import GroupCommit


def test_items_handed_in_while_a_group_is_done_go_together_each_with_its_own_result() -> None:
    busy, go = threading.Event(), threading.Event()
    groups: list[list[int]] = []

    def work(items: list[int]) -> list[int | BaseException]:
        groups.append(items)
        if len(groups) == 1:
            busy.set()
            assert go.wait(10)
        return [ValueError(f"item {i} is bad") if i == 3 else i * 10 for i in items]

    commit: GroupCommit[int, int] = GroupCommit(work)
    with ThreadPoolExecutor(6) as pool:
        first = pool.submit(commit.submit, 0)
        assert busy.wait(10)
        rest = {i: pool.submit(commit.submit, i) for i in range(1, 6)}
        while commit.waiting < 5:
            threading.Event().wait(0.01)
        go.set()
        assert first.result(10) == 0
        for i, future in rest.items():
            if i == 3:
                with pytest.raises(ValueError, match="item 3 is bad"):
                    future.result(10)
            else:
                assert future.result(10) == i * 10
    assert groups[0] == [0] and sorted(groups[1]) == [1, 2, 3, 4, 5]
    assert (commit.groups, commit.largest) == (2, 5)


def test_an_item_alone_is_done_at_once_and_a_failing_group_fails_every_caller() -> None:
    def work(items: list[str]) -> list[str]:
        if "boom" in items:
            raise RuntimeError("the store is gone")
        return [item.upper() for item in items]

    commit: GroupCommit[str, str] = GroupCommit(work)
    assert commit.submit("dss/1") == "DSS/1"
    with pytest.raises(RuntimeError, match="the store is gone"):
        commit.submit("boom")
    assert commit.submit("dss/2") == "DSS/2"  # the next group runs


def test_an_item_no_group_takes_in_time_is_withdrawn_and_never_done() -> None:
    busy, go = threading.Event(), threading.Event()
    done: list[str] = []

    def work(items: list[str]) -> list[str]:
        if not busy.is_set():
            busy.set()
            assert go.wait(10)
        done.extend(items)
        return items

    commit: GroupCommit[str, str] = GroupCommit(work)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(commit.submit, "dss/1")
        assert busy.wait(10)
        with pytest.raises(TimeoutError, match="0.05 seconds"):
            commit.submit("dss/2", wait=0.05)
        assert commit.waiting == 0
        go.set()
        assert first.result(10) == "dss/1"
    assert commit.submit("dss/3", wait=0.05) == "dss/3"  # free: done at once
    assert done == ["dss/1", "dss/3"]
