"""Grouping (``nornir_esi.grouping``): calls arriving while a request is in flight share
the next request, which the oldest of them sends; each gets its own answer or the error of
the request that carried it.

The request is scripted (it records what it carried and which thread sent it, and can be
held), so the grouping is observed exactly.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from nornir_esi.grouping import Group
from tests.store.helpers import eventually


class Requests:
    """A scripted request: answers each item doubled; ``fail`` makes the next one raise;
    the requests for key ``"k"`` wait while ``hold`` is clear."""

    def __init__(self) -> None:
        self.sent: list[tuple[Hashable, list[int], str]] = []
        self.hold = threading.Event()
        self.hold.set()
        self.in_flight = threading.Event()
        self.fail: Exception | None = None
        self.short = False

    def run(self, key: Hashable, items: list[int]) -> list[int]:
        self.sent.append((key, list(items), threading.current_thread().name))
        if key == "k":
            self.in_flight.set()
            assert self.hold.wait(30)
        if self.fail is not None:
            error, self.fail = self.fail, None
            raise error
        answers = [2 * item for item in items]
        return answers[:-1] if self.short else answers


def _hold_first(
    group: Group[int, int], requests: Requests, pool: ThreadPoolExecutor
) -> Future[int]:
    """A first call whose request is held in flight."""
    requests.hold.clear()
    first = pool.submit(group, "k", 0)
    assert requests.in_flight.wait(30)
    return first


def test_a_lone_call_sends_its_request_at_once() -> None:
    requests = Requests()
    group: Group[int, int] = Group(requests.run)
    assert [group("k", n) for n in (1, 2, 3)] == [2, 4, 6]
    assert [items for _, items, _ in requests.sent] == [[1], [2], [3]]
    assert group.runs == 3


def test_calls_arriving_in_flight_share_the_next_request_sent_by_the_oldest() -> None:
    requests = Requests()
    group: Group[int, int] = Group(requests.run)
    with ThreadPoolExecutor(8, thread_name_prefix="caller") as pool:
        first = _hold_first(group, requests, pool)
        later: list[Future[int]] = []
        for n in range(1, 6):
            later.append(pool.submit(group, "k", n))
            eventually(lambda n=n: group.waiting("k") == n, what=f"{n} calls waiting")  # type: ignore[misc]
        other = pool.submit(group, "other key", 9)  # another key is not held up
        assert other.result(30) == 18
        requests.hold.set()
        assert first.result(30) == 0
        assert [f.result(30) for f in later] == [2, 4, 6, 8, 10]
    carried = [(key, items) for key, items, _ in requests.sent]
    assert carried == [("k", [0]), ("other key", [9]), ("k", [1, 2, 3, 4, 5])]
    # The second request of "k" went from a thread whose own item it carried.
    second_sender = requests.sent[2][2]
    assert second_sender != requests.sent[0][2]
    assert group.runs == 3


def test_a_failed_request_fails_the_calls_it_carried_and_no_others() -> None:
    requests = Requests()
    group: Group[int, int] = Group(requests.run)
    with ThreadPoolExecutor(4) as pool:
        first = _hold_first(group, requests, pool)
        later = [pool.submit(group, "k", n) for n in (1, 2)]
        eventually(lambda: group.waiting("k") == 2, what="two calls waiting")
        requests.fail = ConnectionError("etcd went away")
        requests.hold.set()
        with pytest.raises(ConnectionError, match="etcd went away"):
            first.result(30)
        # The two that waited went in the next request, which answered.
        assert [f.result(30) for f in later] == [2, 4]
    assert group("k", 7) == 14


def test_a_request_answering_too_few_items_fails_them_all() -> None:
    requests = Requests()
    requests.short = True
    group: Group[int, int] = Group(requests.run)
    with pytest.raises(RuntimeError, match="0 answers for 1 items"):
        group("k", 1)
    requests.short = False
    assert group("k", 1) == 2
