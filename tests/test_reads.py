"""Group reads (``nornir_esi.device.reads``): calls that arrive while a router is read share the
next read; each gets its own part, or the read's error.

The read is scripted (it records what it was asked and can be held), so the grouping is
observed exactly; the real read through the simulator is what the monitoring flow tests
run.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from nornir_esi.device.reads import GroupReads
from nornir_esi.exceptions import DeviceUnavailableError
from tests.store.helpers import eventually


class Router:
    """A scripted read: answers every interface "up" and every counter by its name."""

    def __init__(self, *, fail: bool = False) -> None:
        self.asked: list[tuple[list[str], list[tuple[str, str]]]] = []
        self.hold = threading.Event()
        self.hold.set()
        self.reading = threading.Event()
        self.fail = fail

    def read(
        self, router: Any, interfaces: list[str], counters: list[tuple[str, str]]
    ) -> dict[str, Any]:
        self.asked.append((interfaces, counters))
        self.reading.set()
        assert self.hold.wait(30)
        if self.fail:
            raise DeviceUnavailableError(router, "collect state", "connection refused")
        return {
            "interfaces": dict.fromkeys(interfaces, "up"),
            "counters": {f"{f}/{c}": {"packets": len(c)} for f, c in counters},
        }


def test_calls_arriving_during_a_read_share_the_next_one() -> None:
    router = Router()
    reads = GroupReads(router.read)
    router.hold.clear()
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(reads, "mx1", "mx1", ["ae0"], [("INET_IN", "a_IN")])
        assert router.reading.wait(30)
        # While the first read is held, five more calls for the router, one for another.
        later: list[Future[dict[str, Any]]] = [
            pool.submit(reads, "mx1", "mx1", [f"ae0.{n}"], [("INET_IN", f"gw{n}_IN")])
            for n in range(5)
        ]
        eventually(lambda: reads.waiting("mx1") == 5, what="five calls waiting")
        router.hold.set()
        answers = [f.result(30) for f in later]
        assert first.result(30) == {
            "interfaces": {"ae0": "up"},
            "counters": {"INET_IN/a_IN": {"packets": 4}},
        }
    # Two reads: the first call's, then one for the five.
    assert reads.reads == 2
    assert router.asked[1] == (
        [f"ae0.{n}" for n in range(5)],
        [("INET_IN", f"gw{n}_IN") for n in range(5)],
    )
    # Each got its own part, nothing of the others'.
    for n, answer in enumerate(answers):
        assert answer == {
            "interfaces": {f"ae0.{n}": "up"},
            "counters": {f"INET_IN/gw{n}_IN": {"packets": len(f"gw{n}_IN")}},
        }


def test_calls_one_after_the_other_each_read() -> None:
    router = Router()
    reads = GroupReads(router.read)
    for n in range(3):
        assert reads("mx1", "mx1", [f"ae{n}"]) == {"interfaces": {f"ae{n}": "up"}, "counters": {}}
    assert reads.reads == 3


def test_a_failed_read_fails_every_call_it_carried_and_the_next_reads_again() -> None:
    router = Router(fail=True)
    reads = GroupReads(router.read)
    router.hold.clear()
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(reads, "mx1", "mx1", ["ae0"])
        assert router.reading.wait(30)
        later = [pool.submit(reads, "mx1", "mx1", [f"ae{n}"]) for n in (1, 2)]
        eventually(lambda: reads.waiting("mx1") == 2, what="two calls waiting")
        router.hold.set()
        for future in (first, *later):
            with pytest.raises(DeviceUnavailableError, match="connection refused"):
                future.result(30)
    router.fail = False
    assert reads("mx1", "mx1", ["ae0"])["interfaces"] == {"ae0": "up"}
    assert reads.reads == 3
