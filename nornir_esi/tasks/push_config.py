"""Push Junos set commands to one router: lock, load, diff, check, commit, unlock."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from nornir.core.task import Result, Task

from nornir_esi.device.candidate import (
    commit_rpc,
    diff,
    discard,
    load,
    load_set,
    lock,
    prune_policy,
    unlock,
)
from nornir_esi.device.rpc import CONNECTION, call
from nornir_esi.exceptions import DeviceError, ValidationError

__all__ = ["push_config"]

log = logging.getLogger(__name__)


def push_config(
    task: Task,
    *,
    commands: str,
    comment: str,
    dry_run: bool | None = None,
    confirm_minutes: int | None = None,
    text: str = "",
    prune_policies: Sequence[str] = (),
) -> Result:
    """Load ``commands`` (``set``/``delete``/``insert`` lines) and commit them with ``comment``.

    Under an exclusive lock (``lock-configuration``): load the commands, then ``text``
    (curly text, ``load merge``; e.g.
    :func:`nornir_esi.services.internet_gateway.render.render_vrf_config`), then
    remove each of ``prune_policies`` that the load left without terms; take the
    ``show | compare`` diff. No diff: nothing is committed. ``dry_run`` (default: Nornir's
    global dry-run): the candidate is discarded and the diff returned. Otherwise
    ``commit check``, then ``commit`` with the comment in the commit log, ``confirmed``
    for ``confirm_minutes`` when given.

    Whatever fails, the candidate is discarded and the lock released before the error
    (a :class:`~nornir_esi.exceptions.DeviceError` naming host and step) propagates, so
    a failed push leaves the router as it was and unlocked.

    The Result's ``result`` and ``diff`` are the diff text (``""`` when nothing changes);
    ``changed`` is whether the diff is non-empty, also on dry runs (as napalm_configure
    reports it: what would change).
    """
    if confirm_minutes is not None and not 1 <= confirm_minutes <= 65535:
        raise ValidationError(
            f"push_config {task.host.name}", "confirm_minutes", "is outside 1-65535"
        )
    dry = task.is_dry_run(dry_run)
    with _locked(task):
        load_set(task, "load", commands)
        if text.strip():
            load(task, "load text", text, action="merge")
        for policy in prune_policies:
            prune_policy(task, policy)
        changes = diff(task)
        if changes and dry:
            discard(task)
        elif changes:
            call(task, "commit check", commit_rpc(check=True))
            call(task, "commit", commit_rpc(comment=comment, confirm_minutes=confirm_minutes))
    return Result(host=task.host, result=changes, changed=bool(changes), diff=changes)


@contextmanager
def _locked(task: Task) -> Iterator[None]:
    """Hold the exclusive configuration lock; on error discard the candidate, then unlock.

    Like ncclient's ``Manager.locked()``, but with Junos' lock-configuration, whose release
    must follow a discard: Junos keeps a modified shared candidate after unlock.
    """
    lock(task)
    try:
        yield
    except BaseException as exc:
        if CONNECTION not in task.host.connections:
            # The session died (call() dropped it): Junos released its exclusive lock and
            # discarded its uncommitted changes; a new session could only fail to unlock.
            raise
        # Cleanup is best effort: the original error is what the caller must see.
        for step, cleanup in (("discard", discard), ("unlock", unlock)):
            try:
                cleanup(task)
            except DeviceError as cleanup_exc:
                log.warning("%s after failed push: %s", step, cleanup_exc)
                exc.add_note(f"{step} after the failure also failed: {cleanup_exc}")
        raise
    unlock(task)
