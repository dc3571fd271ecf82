"""Configuration steps on one router's candidate, shared by push_config and the pair transaction.

Each function is one or a few RPCs on the task's host through :func:`~._rpc.call`, so a
failure is a DeviceError naming the host and the step.
"""

from __future__ import annotations

from typing import NamedTuple

from lxml import etree
from nornir.core.task import Task

from nornir_esi.exceptions import ConfigSyntaxError, DeviceRejectedError
from nornir_esi.junos.text import parse_set
from nornir_esi.render import junos_quote
from nornir_esi.tasks._rpc import call, leaf, sub

__all__ = [
    "commit_history",
    "commit_rpc",
    "diff",
    "discard",
    "load",
    "load_set",
    "lock",
    "prune_policy",
    "unlock",
]


class CommitEntry(NamedTuple):
    """One commit-history entry as the router reports it (``show system commit``)."""

    user: str
    client: str
    time: str
    log: str
    confirmed: bool


def lock(task: Task) -> None:
    call(task, "lock", leaf("lock-configuration"))


def unlock(task: Task) -> None:
    call(task, "unlock", leaf("unlock-configuration"))


def discard(task: Task, step: str = "discard") -> None:
    # `rollback 0`: the candidate becomes the running configuration again.
    call(task, step, leaf("load-configuration", rollback="0"))


def load(task: Task, step: str, payload: str, *, action: str) -> None:
    """``load set`` (``action="set"``) or a text load (``merge``, ``replace``...) of ``payload``."""
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


def load_set(task: Task, step: str, commands: str) -> None:
    """``load set`` of ``commands``, leaving out ``insert`` lines that are already true.

    ``insert X before Y`` moves X next to Y even when X already comes before Y, with
    other entries between: a re-applied gateway would jump over the terms of gateways
    created after it, a diff (and a commit) for nothing. So an insert is read as "X must
    come before (after) Y" and is loaded only when the candidate, as the lines before it
    left it, does not already say so. The lines are therefore loaded in runs that end
    at each insert.
    """
    pending: list[str] = []
    for line in commands.splitlines():
        if line.lstrip().startswith("insert ") and _placed(task, step, line, pending):
            continue
        pending.append(line)
    if any(line.strip() for line in pending):
        load(task, step, "\n".join(pending) + "\n", action="set")


def _placed(task: Task, step: str, line: str, pending: list[str]) -> bool:
    """Whether the ``insert`` ``line`` changes nothing; loads and clears ``pending`` first."""
    try:
        (fragment,) = parse_set(line)
    except (ConfigSyntaxError, ValueError):
        return False  # the router will say what is wrong with it
    moved = next((el for el in fragment.iter() if el.get("insert")), None)
    parent = None if moved is None else moved.getparent()
    where = None if moved is None else moved.get("insert")
    ref = None if moved is None else moved.get("name")
    name = None if moved is None else moved.findtext("name")
    if parent is None or moved is None or where not in ("before", "after") or not ref or not name:
        return False
    if any(p.strip() for p in pending):
        load(task, step, "\n".join(pending) + "\n", action="set")
    pending.clear()
    # The list's parent, down from <configuration>, each list entry with its name only.
    path: list[tuple[str, str | None]] = []
    node: etree._Element | None = parent
    while node is not None and node.tag != "configuration":
        path.append((str(node.tag), node.findtext("name")))
        node = node.getparent()
    path.reverse()
    rpc = leaf("get-configuration", database="candidate")
    current = sub(rpc, "configuration")
    for tag, key in path:
        current = sub(current, tag)
        if key is not None:
            sub(current, "name", key)
    found = call(task, step, rpc).find(".//{*}configuration")
    for tag, key in path:
        found = None if found is None else _child(found, tag, key)
    if found is None:
        return False
    order = [
        (entry.findtext("{*}name") or "").strip()
        for entry in found
        if etree.QName(entry).localname == moved.tag
    ]
    if name not in order or ref not in order:
        return False
    before = order.index(name) < order.index(ref)
    return before if where == "before" else not before


def _child(parent: etree._Element, tag: str, key: str | None) -> etree._Element | None:
    for entry in parent:
        if not isinstance(entry.tag, str) or etree.QName(entry).localname != tag:
            continue
        if key is None or (entry.findtext("{*}name") or "").strip() == key:
            return entry
    return None


def prune_policy(task: Task, policy: str) -> None:
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
        load(task, "prune", command, action="set")


def diff(task: Task) -> str:
    """``show | compare``: the candidate against the running configuration; "" when equal."""
    reply = call(
        task,
        "diff",
        leaf("get-configuration", compare="rollback", rollback="0", format="text"),
    )
    output = reply.findtext(".//{*}configuration-output") or ""
    # Junos answers "\n" (PyEZ relies on it) when there is no difference.
    return output if output.strip() else ""


def commit_rpc(
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


def commit_history(task: Task, step: str) -> list[CommitEntry]:
    """The router's commit history (``show system commit``), newest first."""
    reply = call(task, step, leaf("get-commit-information"))
    return [
        CommitEntry(
            (entry.findtext("{*}user") or "").strip(),
            (entry.findtext("{*}client") or "").strip(),
            (entry.findtext("{*}date-time") or "").strip(),
            (entry.findtext("{*}log") or "").strip(),
            entry.find("{*}confirmed") is not None,
        )
        for entry in reply.iter("{*}commit-history")
    ]
