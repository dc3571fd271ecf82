"""The value types of a change to a router pair, below everything that consumes them.

A service says what each router of the pair gets (:class:`Change`, by role) and how to
check a router after its commit (a :class:`Verifier`); the pair transaction
(:mod:`nornir_esi.pair.transaction`) applies it and answers a :class:`PairResult`; the
coalescer (:mod:`nornir_esi.pair.coalesce`) carries several changes in one transaction,
with their verifiers made one by :func:`combine`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from nornir.core.task import Task

__all__ = [
    "ROLES",
    "Change",
    "MergingVerifier",
    "PairResult",
    "Role",
    "Router",
    "Verifier",
    "combine",
]

# An edge_router resource's body: the router as the inventory builds its host.
Router = Mapping[str, Any]

Role = Literal["primary", "secondary"]
ROLES: tuple[Role, ...] = ("primary", "secondary")


@dataclass(frozen=True)
class Change:
    """What to load on one router: set commands, an optional text merge, policies to prune."""

    router: Router
    commands: str
    text: str = ""
    prune_policies: Sequence[str] = field(default_factory=tuple)


class Verifier(Protocol):
    """Checks one router after its confirmed commit; raises a DeviceError when it is wrong.

    ``task.host`` is the router, with the transaction's session; ``role`` its side.
    """

    def __call__(self, task: Task, role: Role) -> None:
        """Check ``task.host``, the ``role`` side; raise a DeviceError when it is wrong."""
        ...


@runtime_checkable
class MergingVerifier(Verifier, Protocol):
    """A verifier that checks several changes in one read when merged with others of its type.

    A service's verifier is one: one interface listing for every gateway carried.
    """

    def merge(self, others: Sequence[Verifier]) -> Verifier:
        """One verifier for this one and ``others``, all of this verifier's type."""
        ...


@dataclass(frozen=True)
class PairResult:
    """What the transaction did: per router name, the diff; ``changed``: any diff at all.

    On a dry run, ``changed`` says what would change; nothing was committed. ``batched``:
    how many changes the transaction carried (:mod:`nornir_esi.pair.coalesce`); the diffs
    are then those of all of them.
    """

    diffs: Mapping[str, str]
    changed: bool
    dry_run: bool = False
    batched: int = 1


def combine(verifiers: Sequence[Verifier | None]) -> Verifier | None:
    """One verifier for a transaction that carries several changes.

    Verifiers of one merging type merge into one (read once for all); any other mix runs each
    in turn.
    """
    given = [v for v in verifiers if v is not None]
    if not given:
        return None
    if len(given) == 1:
        return given[0]
    first = given[0]
    if isinstance(first, MergingVerifier) and all(type(v) is type(first) for v in given):
        return first.merge(given[1:])

    def each(task: Task, role: Role) -> None:
        for verify in given:
            verify(task, role)

    return each
