"""Push Junos set commands to one router: lock, load, diff, check, commit, unlock."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from lxml import etree
from nornir.core.task import Result, Task

from nornir_esi.exceptions import DeviceError, DeviceRejectedError, ValidationError
from nornir_esi.render import junos_quote
from nornir_esi.tasks._rpc import CONNECTION, call, leaf, sub

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
    (curly text, ``load merge``; e.g. :func:`nornir_esi.render.render_vrf_config`), then
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
        _load(task, "load", commands, action="set")
        if text.strip():
            _load(task, "load text", text, action="merge")
        for policy in prune_policies:
            _prune_policy(task, policy)
        diff = _diff(task)
        if diff and dry:
            _discard(task)
        elif diff:
            call(task, "commit check", _commit(check=True))
            call(task, "commit", _commit(comment=comment, confirm_minutes=confirm_minutes))
    return Result(host=task.host, result=diff, changed=bool(diff), diff=diff)


@contextmanager
def _locked(task: Task) -> Iterator[None]:
    """Hold the exclusive configuration lock; on error discard the candidate, then unlock.

    Like ncclient's ``Manager.locked()``, but with Junos' lock-configuration, whose release
    must follow a discard: Junos keeps a modified shared candidate after unlock.
    """
    call(task, "lock", leaf("lock-configuration"))
    try:
        yield
    except BaseException as exc:
        if CONNECTION not in task.host.connections:
            # The session died (call() dropped it): Junos released its exclusive lock and
            # discarded its uncommitted changes; a new session could only fail to unlock.
            raise
        # Cleanup is best effort: the original error is what the caller must see.
        for step, cleanup in (("discard", _discard), ("unlock", _unlock)):
            try:
                cleanup(task)
            except DeviceError as cleanup_exc:
                log.warning("%s after failed push: %s", step, cleanup_exc)
                exc.add_note(f"{step} after the failure also failed: {cleanup_exc}")
        raise
    _unlock(task)


def _unlock(task: Task) -> None:
    call(task, "unlock", leaf("unlock-configuration"))


def _discard(task: Task) -> None:
    # `rollback 0`: the candidate becomes the running configuration again.
    call(task, "discard", leaf("load-configuration", rollback="0"))


def _load(task: Task, step: str, payload: str, *, action: str) -> None:
    if action == "set":
        rpc = leaf("load-configuration", action="set", format="text")
        sub(rpc, "configuration-set", payload)
    else:
        rpc = leaf("load-configuration", action=action, format="text")
        sub(rpc, "configuration-text", payload)
    reply = call(task, step, rpc)
    # Junos can report load errors inside <load-configuration-results> with the reply
    # itself not flagged; ncclient only raises for top-level rpc-errors.
    errors = (reply.findtext(".//{*}load-error-count") or "0").strip()
    if errors != "0":
        messages = "; ".join(str(m).strip() for m in reply.itertext() if str(m).strip())
        raise DeviceRejectedError(task.host.name, step, f"{errors} load errors: {messages}")


def _prune_policy(task: Task, policy: str) -> None:
    """Delete ``policy`` from the candidate when it has no term (nor anything) left."""
    rpc = leaf("get-configuration", database="candidate")
    statement = sub(sub(sub(rpc, "configuration"), "policy-options"), "policy-statement")
    sub(statement, "name", policy)
    reply = call(task, "prune", rpc)
    found = reply.find(".//{*}policy-statement")
    if found is None:
        return
    if all(child.tag.rpartition("}")[2] == "name" for child in found):
        command = f"delete policy-options policy-statement {junos_quote(policy)}\n"
        _load(task, "prune", command, action="set")


def _diff(task: Task) -> str:
    reply = call(
        task,
        "diff",
        leaf("get-configuration", compare="rollback", rollback="0", format="text"),
    )
    output = reply.findtext(".//{*}configuration-output") or ""
    # Junos answers "\n" (PyEZ relies on it) when there is no difference.
    return output if output.strip() else ""


def _commit(
    *, check: bool = False, comment: str = "", confirm_minutes: int | None = None
) -> etree._Element:
    rpc = leaf("commit-configuration")
    if check:
        sub(rpc, "check")
        return rpc
    if confirm_minutes is not None:
        sub(rpc, "confirmed")
        sub(rpc, "confirm-timeout", str(confirm_minutes))
    if comment:
        sub(rpc, "log", comment)
    return rpc
