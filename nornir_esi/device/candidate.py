"""Configuration steps on one router's candidate, shared by push_config and the pair transaction.

Each function is one or a few RPCs on the task's host through :func:`~._rpc.call`, so a
failure is a DeviceError naming the host and the step.
"""

from __future__ import annotations

from typing import NamedTuple

from lxml import etree
from nornir.core.task import Task

from nornir_esi.device.rpc import call, leaf, sub
from nornir_esi.exceptions import ConfigSyntaxError, DeviceRejectedError
from nornir_esi.junos import schema
from nornir_esi.junos.quote import junos_quote
from nornir_esi.junos.text import parse_set

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
    """Lock the candidate configuration (``lock-configuration``)."""
    call(task, "lock", leaf("lock-configuration"))


def unlock(task: Task) -> None:
    """Unlock the candidate configuration (``unlock-configuration``)."""
    call(task, "unlock", leaf("unlock-configuration"))


def discard(task: Task, step: str = "discard") -> None:
    """Discard the candidate's changes (``rollback 0``), as the step named ``step``."""
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
    """``load set`` of ``commands``, keeping entries of user-ordered lists in their place.

    - ``insert X before Y`` moves X next to Y even when X already comes before Y, with
      other entries between: a re-applied gateway would jump over the terms of gateways
      created after it, a diff (and a commit) for nothing. So an insert is read as "X must
      come before (after) Y" and is loaded only when the candidate, as the lines before
      it left it, does not already say so.
    - ``delete X`` of an entry of a user-ordered list (a filter or policy term) that the
      same commands ``set`` again is a replacement in place: Junos would put the new X at
      the end of its list, so X is moved back before the entry that followed it (before
      an ``insert`` of X, or at the end), and an unchanged X gives no diff.

    The lines are therefore loaded in runs that end where the candidate must be read,
    except for the insert of an entry these commands create (and delete nothing): a new
    entry is appended, so after the entries the list had; whether its insert moves it is
    known from the list's order before the load, read once per list (a batch of gateways
    creating hundreds of terms: one read per filter, not two round trips per term).
    """
    lines = commands.splitlines()
    deletes = any(line.lstrip().startswith("delete ") for line in lines)
    recreated = (
        {entry for line in lines if line.lstrip().startswith("set ") for entry in _entries(line)}
        if deletes
        else set()
    )
    # Each list an insert moves entries in, as the candidate has it before this load.
    at_start: dict[tuple[tuple[tuple[str, str | None], ...], str], list[str]] = {}
    if not deletes:
        for line in lines:
            moved = _inserted(line) if line.lstrip().startswith("insert ") else None
            if moved is not None and (moved[0].path, moved[0].tag) not in at_start:
                at_start[moved[0].path, moved[0].tag] = _order(task, step, moved[0]) or []
    inserted: set[_Entry] = set()
    pending: list[str] = []
    # Entries deleted whole to be set again: (entry, its path as words, the entry that
    # followed it).
    kept: list[tuple[_Entry, str, str]] = []
    for line in lines:
        word = line.lstrip().partition(" ")[0]
        if word == "delete":
            entry = _deleted_entry(line)
            if entry is not None and entry in recreated:
                _flush(task, step, pending)
                order = _order(task, step, entry)
                if order is not None and entry.name in order:
                    after = order[order.index(entry.name) + 1 :]
                    if after:
                        kept.append((entry, line.strip().partition(" ")[2], after[0]))
        elif word == "insert":
            moved = _inserted(line)
            if moved is not None:
                entry, where, ref = moved
                start = at_start.get((entry.path, entry.tag))
                first = entry not in inserted
                inserted.add(entry)
                new = start is not None and entry.name not in start and ref in start
                if first and where == "before" and new:
                    # New (set by the lines before, or the router says it is not there),
                    # so appended after ref: the insert is needed.
                    pending.append(line)
                    continue
                _put_back(task, step, pending, [k for k in kept if k[0] == entry])
                kept = [k for k in kept if k[0] != entry]
                if _placed(task, step, moved, pending):
                    continue
        pending.append(line)
    _flush(task, step, pending)
    _put_back(task, step, pending, kept)


class _Entry(NamedTuple):
    """An entry of a list in the configuration: its list's parent, its tag and its name.

    The parent is its ``path`` from the top, each list entry on the way by its name.
    """

    path: tuple[tuple[str, str | None], ...]
    tag: str
    name: str


def _entry(el: etree._Element) -> _Entry | None:
    parent = el.getparent()
    name = el.findtext("name")
    if parent is None or not name:
        return None
    path: list[tuple[str, str | None]] = []
    node: etree._Element | None = parent
    while node is not None and node.tag != "configuration":
        path.append((str(node.tag), node.findtext("name")))
        node = node.getparent()
    path.reverse()
    return _Entry(tuple(path), str(el.tag), name)


def _fragment(line: str) -> etree._Element | None:
    try:
        (fragment,) = parse_set(line)
    except (ConfigSyntaxError, ValueError):
        return None  # the router will say what is wrong with it
    return fragment


def _ordered(entry: _Entry) -> bool:
    stmt = schema.lookup([tag for tag, _ in entry.path] + [entry.tag])
    return stmt is not None and stmt.kind == "list" and stmt.ordered


def _entries(line: str) -> list[_Entry]:
    """The entries of user-ordered lists a ``set`` line names."""
    fragment = _fragment(line)
    if fragment is None:
        return []
    found = (_entry(el) for el in fragment.iter() if el.find("name") is not None)
    return [e for e in found if e is not None and _ordered(e)]


def _deleted_entry(line: str) -> _Entry | None:
    """The entry of a user-ordered list that the ``delete`` ``line`` deletes whole."""
    fragment = _fragment(line)
    gone = (
        None if fragment is None else next((el for el in fragment.iter() if el.get("delete")), None)
    )
    if gone is None or [c.tag for c in gone] != ["name"]:
        return None
    entry = _entry(gone)
    return entry if entry is not None and _ordered(entry) else None


def _inserted(line: str) -> tuple[_Entry, str, str] | None:
    """The entry an ``insert`` line moves, ``before``/``after``, and the reference's name."""
    fragment = _fragment(line)
    moved = (
        None if fragment is None else next((el for el in fragment.iter() if el.get("insert")), None)
    )
    where = None if moved is None else moved.get("insert")
    ref = None if moved is None else moved.get("name")
    entry = None if moved is None else _entry(moved)
    if entry is None or where not in ("before", "after") or not ref:
        return None
    return entry, where, ref


def _flush(task: Task, step: str, pending: list[str]) -> None:
    if any(p.strip() for p in pending):
        load(task, step, "\n".join(pending) + "\n", action="set")
    pending.clear()


def _order(task: Task, step: str, entry: _Entry) -> list[str] | None:
    """The names in the candidate's list of ``entry``, in order; None when it has none."""
    rpc = leaf("get-configuration", database="candidate")
    current = sub(rpc, "configuration")
    for tag, key in entry.path:
        current = sub(current, tag)
        if key is not None:
            sub(current, "name", key)
    found = call(task, step, rpc).find(".//{*}configuration")
    for tag, key in entry.path:
        found = None if found is None else _child(found, tag, key)
    if found is None:
        return None
    return [
        (el.findtext("{*}name") or "").strip()
        for el in found
        if etree.QName(el).localname == entry.tag
    ]


def _placed(task: Task, step: str, moved: tuple[_Entry, str, str], pending: list[str]) -> bool:
    """Whether the insert of ``moved`` changes nothing; loads and clears ``pending`` first."""
    entry, where, ref = moved
    _flush(task, step, pending)
    order = _order(task, step, entry)
    if order is None or entry.name not in order or ref not in order:
        return False
    before = order.index(entry.name) < order.index(ref)
    return before if where == "before" else not before


def _put_back(
    task: Task, step: str, pending: list[str], kept: list[tuple[_Entry, str, str]]
) -> None:
    """Move each entry set again back before the entry that followed it.

    An entry moves only when both are there and it is not already before its successor.
    """
    for entry, words, successor in kept:
        _flush(task, step, pending)
        order = _order(task, step, entry)
        if order is None or entry.name not in order or successor not in order:
            continue
        if order.index(entry.name) < order.index(successor):
            continue
        command = f"insert {words} before {entry.tag} {junos_quote(successor)}\n"
        load(task, step, command, action="set")


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


def diff(task: Task, step: str = "diff", *, rollback: int = 0) -> str:
    """``show | compare rollback N``: the candidate against rollback N; "" when equal.

    Rollback 0 is the running configuration.
    """
    reply = call(
        task,
        step,
        leaf("get-configuration", compare="rollback", rollback=str(rollback), format="text"),
    )
    output = reply.findtext(".//{*}configuration-output") or ""
    # Junos answers "\n" (PyEZ relies on it) when there is no difference.
    return output if output.strip() else ""


def commit_rpc(
    *, check: bool = False, comment: str = "", confirm_minutes: int | None = None
) -> etree._Element:
    """The ``commit-configuration`` RPC: a ``commit check`` when ``check``, else a commit.

    The commit is logged with ``comment`` (when not empty); with ``confirm_minutes`` it is a
    ``commit confirmed``, which the router rolls back unless it is confirmed within that many
    minutes.
    """
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
