"""Read a router's commit history (``show system commit``), for the audit trail."""

from __future__ import annotations

from nornir.core.task import Result, Task

from nornir_esi.device.candidate import commit_history

__all__ = ["collect_commits"]


def collect_commits(task: Task) -> Result:
    """The router's commits, newest first: ``{"index", "log", "user", "time", "confirmed"}``.

    ``index`` is the commit's rollback number (``rollback <index>`` loads the
    configuration as that commit left it); ``log`` its comment, which for the commits of a
    job is the job id. Reading never changes anything: ``changed`` is always False.
    """
    commits = [
        {
            "index": index,
            "log": entry.log,
            "user": entry.user,
            "time": entry.time,
            "confirmed": entry.confirmed,
        }
        for index, entry in enumerate(commit_history(task, "commit history"))
    ]
    return Result(host=task.host, result=commits, changed=False)
