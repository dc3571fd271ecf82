"""The coalescer's scheduling (``nornir_esi.pair.coalesce``), with a scripted transaction.

The transaction here is a stand-in for ``apply_pair`` that records what it was given and
answers as each test scripts it: what is tested is who shares a transaction and who gets
which outcome, which needs no router. The real transaction is in tests/pair/test_coalesce.py.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from nornir_esi.exceptions import (
    DeviceBusyError,
    DeviceRejectedError,
    DeviceUnavailableError,
    PairError,
    PairRejectedError,
    PairUnavailableError,
    StoreUnavailableError,
)
from nornir_esi.pair.change import Change, PairResult
from nornir_esi.pair.coalesce import Coalescer
from tests.store.helpers import eventually

KEY = ("r1", "r2")


def change(name: str) -> dict[str, Change]:
    return {
        role: Change(router={"name": router}, commands=f"set {name} on {router}\n")
        for role, router in (("primary", "r1"), ("secondary", "r2"))
    }


class Script:
    """The transaction: ``answer(call number, comment)`` returns None (success) or an error."""

    def __init__(self, answer: Callable[[int, str], PairError | None]) -> None:
        self.answer = answer
        self.comments: list[str] = []
        self.commands: list[str] = []
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, changes: Any, *, comment: str, verify: Any) -> PairResult:
        self.comments.append(comment)
        self.commands.append(changes["primary"].commands)
        self.entered.set()
        assert self.gate.wait(30)
        error = self.answer(len(self.comments), comment)
        if error is not None:
            raise error
        return PairResult({"r1": comment, "r2": comment}, changed=True)


def refused(comment: str, *, clean: bool = True) -> PairError:
    cause = DeviceRejectedError("r2", "commit check", f"refused {comment}")
    return PairError.of(
        cause, {"r1": "candidate discarded", "r2": "candidate discarded"}, clean=clean
    )


def busy() -> PairError:
    cause = DeviceBusyError("r1", "lock", "configuration database locked by: someone (lock-denied)")
    return PairError.of(cause, {"r1": "nothing to undo", "r2": "candidate discarded"}, clean=True)


def submit(pool: ThreadPoolExecutor, coalescer: Coalescer, name: str, **kwargs: Any) -> Future[Any]:
    return pool.submit(
        coalescer.submit, KEY, change(name), comment=name, subject=kwargs.pop("subject", name)
    )


def queue(
    pool: ThreadPoolExecutor,
    coalescer: Coalescer,
    *names: str,
    subjects: dict[str, str] | None = None,
) -> list[Future[Any]]:
    """Submit ``names`` one after the other, each seen waiting before the next: the queue's
    order is theirs."""
    futures = []
    for name in names:
        before = coalescer.waiting()
        futures.append(submit(pool, coalescer, name, subject=(subjects or {}).get(name, name)))
        eventually(lambda b=before: coalescer.waiting() == b + 1, what=f"{name} queued")
    return futures


def outcome(future: Future[Any]) -> Any:
    try:
        return future.result(30)
    except Exception as exc:  # the outcome is what is asserted
        return exc


def hold_first(script: Script, coalescer: Coalescer, pool: ThreadPoolExecutor) -> Future[Any]:
    """Start a first change and hold its transaction until ``script.gate`` opens."""
    script.gate.clear()
    first = submit(pool, coalescer, "first")
    assert script.entered.wait(30)
    return first


def behind_first(script: Script, coalescer: Coalescer, *names: str) -> list[Any]:
    """The outcomes of ``names``, queued in order behind a first change whose transaction
    is held until they all wait (so they share the second one)."""
    with ThreadPoolExecutor(len(names) + 1) as pool:
        first = hold_first(script, coalescer, pool)
        futures = queue(pool, coalescer, *names)
        script.gate.set()
        outcomes = [outcome(f) for f in futures]
        assert isinstance(outcome(first), PairResult)
    return outcomes


def test_one_bad_change_among_many_fails_alone() -> None:
    script = Script(lambda n, comment: refused(comment) if "bad" in comment.split() else None)
    coalescer = Coalescer(script)
    names = ["a", "b", "c", "bad", "d", "e", "f", "g"]
    with ThreadPoolExecutor(10) as pool:
        first = hold_first(script, coalescer, pool)
        futures = dict(zip(names, queue(pool, coalescer, *names), strict=True))
        script.gate.set()
        results = {name: outcome(f) for name, f in futures.items()}
        assert outcome(first).batched == 1
    assert isinstance(results["bad"], PairRejectedError)
    assert "refused bad" in str(results["bad"])
    good = [name for name in names if name != "bad"]
    for name in good:
        assert isinstance(results[name], PairResult), (name, results[name])
    # Halved until alone: 8 refused, then "a b c bad" refused and "d e f g" through,
    # "a b" through, "c bad" refused, "c" through, "bad" refused on its own.
    assert script.comments[1:] == [
        "a b c bad d e f g",
        "a b c bad",
        "a b",
        "c bad",
        "c",
        "bad",
        "d e f g",
    ]
    assert [results[n].batched for n in good] == [2, 2, 1, 4, 4, 4, 4]


def test_a_refusal_not_cleanly_undone_is_not_tried_again() -> None:
    script = Script(lambda n, comment: refused(comment, clean=False) if n > 1 else None)
    errors = behind_first(script, Coalescer(script), "a", "b", "c")
    assert script.comments == ["first", "a b c"]  # no split: a router may keep the change
    for error in errors:
        assert isinstance(error, PairRejectedError) and not error.clean


def test_an_unreachable_router_fails_every_change_of_the_transaction() -> None:
    def answer(n: int, comment: str) -> PairError | None:
        if n == 1:
            return None
        cause = DeviceUnavailableError("r1", "lock", "connection refused")
        return PairError.of(cause, {"r1": "nothing to undo", "r2": "nothing to undo"}, clean=True)

    script = Script(answer)
    errors = behind_first(script, Coalescer(script), "a", "b", "c")
    # Retrying is the jobs' business (their worker's backoff): one try here, no split.
    assert script.comments == ["first", "a b c"]
    assert all(isinstance(e, PairUnavailableError) for e in errors)


def test_a_busy_pair_is_tried_again_with_the_changes_that_arrived_meanwhile() -> None:
    arrived = threading.Event()
    pool = ThreadPoolExecutor(4)
    coalescer: Coalescer

    def answer(n: int, comment: str) -> PairError | None:
        if n == 1:
            # While the routers are locked by someone else, two more changes arrive.
            queue(pool, coalescer, "b", "c")
            arrived.set()
            return busy()
        if n == 2:
            return busy()
        return None

    script = Script(answer)
    coalescer = Coalescer(script, busy_for=30)
    try:
        result = coalescer.submit(KEY, change("a"), comment="a", subject="a")
    finally:
        pool.shutdown(wait=True)
    assert arrived.is_set()
    assert script.comments == ["a", "a b c", "a b c"]
    assert result.batched == 3
    assert script.commands[-1] == "set a on r1\nset b on r1\nset c on r1\n"


def test_a_pair_busy_for_too_long_fails_with_the_lock_error() -> None:
    script = Script(lambda n, comment: busy())
    coalescer = Coalescer(script, busy_for=0)
    with pytest.raises(PairUnavailableError) as info:
        coalescer.submit(KEY, change("a"), comment="a")
    assert isinstance(info.value.cause, DeviceBusyError)
    assert "lock-denied" in str(info.value)
    assert script.comments == ["a"]


def test_changes_to_one_subject_go_one_per_transaction_in_order() -> None:
    script = Script(lambda n, comment: None)
    coalescer = Coalescer(script)
    with ThreadPoolExecutor(5) as pool:
        first = hold_first(script, coalescer, pool)
        names = ("gw1-create", "gw2-create", "gw1-modify", "gw1-delete")
        futures = queue(pool, coalescer, *names, subjects={n: n.split("-")[0] for n in names})
        script.gate.set()
        for future in [first, *futures]:
            assert isinstance(outcome(future), PairResult)
    assert script.comments == [
        "first",
        "gw1-create gw2-create",
        "gw1-modify",
        "gw1-delete",
    ]


def test_at_most_max_batch_changes_share_a_transaction() -> None:
    script = Script(lambda n, comment: None)
    coalescer = Coalescer(script, max_batch=2)
    with ThreadPoolExecutor(6) as pool:
        first = hold_first(script, coalescer, pool)
        futures = queue(pool, coalescer, "a", "b", "c", "d", "e")
        script.gate.set()
        assert [outcome(f).batched for f in [first, *futures]] == [1, 2, 2, 2, 2, 1]
    assert script.comments == ["first", "a b", "c d", "e"]
    assert coalescer.waiting() == 0


def test_a_transaction_waits_for_the_pairs_turn_and_takes_what_queued_meanwhile() -> None:
    script = Script(lambda n, comment: None)
    turn_asked = threading.Event()
    turn_given = threading.Event()
    turns: list[object] = []

    @contextlib.contextmanager
    def turn(key: object) -> Iterator[None]:
        turns.append(key)
        turn_asked.set()
        assert turn_given.wait(30)  # another process's transaction on the pair runs
        yield

    coalescer = Coalescer(script, turn=turn)
    with ThreadPoolExecutor(4) as pool:
        first = submit(pool, coalescer, "a")
        assert turn_asked.wait(30)
        others = queue(pool, coalescer, "b", "c")
        turn_given.set()
        assert [outcome(f).batched for f in (first, *others)] == [3, 3, 3]
    assert script.comments == ["a b c"]
    assert turns == [KEY]


def test_no_turn_for_the_pair_fails_the_changes_waiting_for_it() -> None:
    script = Script(lambda n, comment: None)

    def turn(key: object) -> contextlib.AbstractContextManager[None]:
        raise StoreUnavailableError("etcd: no leader")

    coalescer = Coalescer(script, turn=turn)
    with pytest.raises(StoreUnavailableError):
        coalescer.submit(KEY, change("a"), comment="a")
    assert script.comments == []
    assert coalescer.waiting() == 0
