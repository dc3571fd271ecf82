"""The pair transaction against two simulated routers: all or nothing, whatever fails where."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import pytest
from lxml import etree
from nornir.core.task import Task

from nornir_esi.device.connections import POOL
from nornir_esi.device.inventory import nornir_for
from nornir_esi.exceptions import (
    DeviceRejectedError,
    DeviceUnavailableError,
    PairError,
    PairRejectedError,
    PairUnavailableError,
)
from nornir_esi.junos import tree
from nornir_esi.junos.diff import diff_text
from nornir_esi.netsim.device import FAULT_HOLDER, Router
from nornir_esi.netsim.server import RouterSpec, Simulator
from nornir_esi.pair.change import Change, PairResult, Role
from nornir_esi.pair.devices import NornirDevices
from nornir_esi.pair.transaction import apply_pair
from nornir_esi.services.internet_gateway.render import (
    gateway_prune_policies,
    render_gateway,
    render_vrf_config,
)
from nornir_esi.services.internet_gateway.verify import gateway_verifier
from nornir_esi.tasks import push_config
from tests.store.helpers import eventually
from tests.tasks.conftest import PRIMARY, SECONDARY, SIM_NAME, write_overrides
from tests.tasks.test_tasks import PARAMS, _collapse, _diff_lines, _origin

VRF = PARAMS["vrf_name"]

T = TypeVar("T")
COMMENT = "job 429e24b5-create"
BODIES = {"primary": PRIMARY, "secondary": SECONDARY}
NAMES = {"primary": PRIMARY["name"], "secondary": SECONDARY["name"]}
# A second gateway on the same pair, created after the seed's: its terms follow the seed's.
OTHER = {
    **PARAMS,
    "vrf_name": "vrf_other_1026",
    "vlan": "1026",
    "primary_device_logical_interface": "ae0.1026",
    "secondary_device_logical_interface": "ae0.1026",
    "prefix_list_name": "vrf_other_1026_prefix",
    "filter_term_name": "vrf_other_1026_filter",
}
SEED_TERM = f"{PARAMS['vrf_name']}_filter"
OTHER_TERM = "vrf_other_1026_filter"


def changes(action: str, params: dict[str, Any] = PARAMS) -> dict[str, Change]:
    return {
        role: Change(
            router=BODIES[role],
            commands=render_gateway(params, role, action=action),
            text=render_vrf_config(params) if action != "delete" else "",
            prune_policies=gateway_prune_policies(params) if action == "delete" else (),
        )
        for role in ("primary", "secondary")
    }


def apply(overrides: str, action: str = "create", **kwargs: Any) -> PairResult:
    kwargs.setdefault("comment", COMMENT)
    kwargs.setdefault("verify", gateway_verifier(PARAMS, present=action != "delete", settle=0))
    return apply_pair(changes(action, kwargs.pop("params", PARAMS)), overrides=overrides, **kwargs)


def on(sim: Simulator, name: str, read: Callable[[Router], T]) -> T:
    """Read router state on the simulator's loop; ``name`` is the seed's router name."""
    device = sim.router(SIM_NAME[name])
    return sim.call(lambda: read(device))


def running(sim: Simulator) -> dict[str, bytes]:
    return {name: on(sim, name, lambda r: tree.canonical_bytes(r.running)) for name in SIM_NAME}


def history(sim: Simulator, name: str) -> list[tuple[str, bool, float]]:
    return on(sim, name, lambda r: [(c.comment, c.confirmed, c.seconds) for c in r.history])


def assert_left_as(sim: Simulator, before: dict[str, bytes], *, exact: bool = True) -> None:
    """Both routers on ``before``, no lock of ours, no candidate change, no pending confirm,
    no session left but those kept for the next job (idle, bounded).

    ``exact``: byte for byte; otherwise as Junos compares (``show | compare`` empty): an
    object deleted and set again may come back later in a list whose order Junos does not
    keep (units, routing instances), which the simulator stores in load order.
    """
    if exact:
        assert running(sim) == before
    else:
        after = running(sim)
        for name in SIM_NAME:
            assert diff_text(etree.fromstring(before[name]), etree.fromstring(after[name])) == ""
    for name in SIM_NAME:
        assert on(sim, name, lambda r: r.lock_owner) in (None, FAULT_HOLDER), name
        assert not on(sim, name, lambda r: r.candidate_modified()), name
        assert not on(sim, name, lambda r: r.confirm_pending), name
        assert on(sim, name, lambda r: len(r.sessions)) <= POOL.per_router, name


def failure(overrides: str, **kwargs: Any) -> PairError:
    with pytest.raises(PairError) as info:
        apply(overrides, **kwargs)
    return info.value


def push_out_of_band(overrides: str, commands: str) -> None:
    """Someone changes both routers behind the gateway's back (plain commit)."""
    nr = nornir_for([PRIMARY, SECONDARY], overrides)
    try:
        results = nr.run(task=push_config, commands=commands, comment="by hand")
        assert not results.failed, {h: m[0].exception for h, m in results.items()}
    finally:
        nr.close_connections()


def filter_terms(sim: Simulator, name: str, filter_name: str = "INET_IN") -> list[str]:
    return on(
        sim,
        name,
        lambda r: [
            str(t)
            for t in r.running.xpath(
                f"firewall/family/inet/filter[name='{filter_name}']/term/name/text()"
            )
        ],
    )


# -- success -------------------------------------------------------------------------------


def test_create_rolls_out_backup_first_then_confirms_both(
    routers: Simulator, overrides: str
) -> None:
    day0 = running(routers)
    result = NornirDevices(overrides).push_pair(
        changes("create"), comment=COMMENT, verify=gateway_verifier(PARAMS, settle=0)
    )
    assert result.changed is True and result.dry_run is False
    assert set(result.diffs) == set(SIM_NAME)
    for name, diff in result.diffs.items():
        assert _diff_lines(diff) == _collapse(_origin(SIM_NAME[name])), name
    after = running(routers)
    for role, name in NAMES.items():
        assert after[name] != day0[name]
        group = on(
            routers,
            name,
            lambda r: r.running.findtext(
                "interfaces/interface[name='ae0']/unit[name='1025']/apply-groups"
            ),
        )
        assert group == ("InetGW1-VRRP" if role == "primary" else "InetGW2-VRRP")
        # Newest first: the confirming commit, the confirmed one, day-0.
        commits = history(routers, name)
        assert [(c, confirmed) for c, confirmed, _ in commits[:2]] == [
            (COMMENT, False),
            (COMMENT, True),
        ]
        assert len(commits) == 3
    secondary = history(routers, NAMES["secondary"])
    primary = history(routers, NAMES["primary"])
    # The backup's trial commit came first; both were confirmed only after both trials.
    assert secondary[1][2] <= primary[1][2]
    assert max(secondary[1][2], primary[1][2]) <= min(secondary[0][2], primary[0][2])
    assert_left_as(routers, after)


def test_rerun_commits_nothing(routers: Simulator, overrides: str) -> None:
    apply(overrides)
    after = running(routers)
    again = apply(overrides)
    assert again.changed is False
    assert again.diffs == dict.fromkeys(SIM_NAME, "")
    for name in SIM_NAME:
        assert len(history(routers, name)) == 3, name
    assert_left_as(routers, after)


def test_dry_run_returns_the_origin_diffs_and_commits_nothing(
    routers: Simulator, overrides: str
) -> None:
    day0 = running(routers)
    result = apply(overrides, dry_run=True)
    assert result.changed is True and result.dry_run is True
    for name, diff in result.diffs.items():
        assert _diff_lines(diff) == _collapse(_origin(SIM_NAME[name])), name
        assert len(history(routers, name)) == 1
    assert_left_as(routers, day0)


def test_delete_returns_both_routers_to_day0(routers: Simulator, overrides: str) -> None:
    day0 = running(routers)
    apply(overrides)
    result = apply(overrides, "delete", comment="job 429e24b5-delete")
    assert result.changed is True
    assert_left_as(routers, day0)
    for name in SIM_NAME:
        assert history(routers, name)[0][:2] == ("job 429e24b5-delete", False)


# -- failures: both routers end where they started -------------------------------------------


@dataclasses.dataclass(frozen=True)
class Text:
    """What a text must be (``==``), contain (``in``) or start with (``^``)."""

    how: Literal["==", "in", "^"]
    text: str

    def __call__(self, got: str) -> bool:
        if self.how == "==":
            return got == self.text
        if self.how == "in":
            return self.text in got
        return got.startswith(self.text)

    def __repr__(self) -> str:
        return f"{self.how} {self.text!r}"


def is_(text: str) -> Text:
    return Text("==", text)


def has(text: str) -> Text:
    return Text("in", text)


def starts(text: str) -> Text:
    return Text("^", text)


Commits = tuple[tuple[str, bool], ...]

# What the rollback did on a router (PairError.rollback).
DISCARDED = is_("candidate discarded, unlocked")
ROLLED_BACK = has("rolled back to its previous configuration")
NOTHING_TO_UNDO = starts("nothing to undo")
# A router's commits at the end, newest first: (comment, confirmed).
DAY0 = ("day-0 configuration", False)
UNTOUCHED: Commits = (DAY0,)
# The trial commit undone at once by a commit, not left to the confirm timer.
TRIAL_UNDONE: Commits = ((f"rollback of {COMMENT}", False), (COMMENT, True), DAY0)
# A failure keeps the retryability of the router's own error.
KEEPS = {PairRejectedError: DeviceRejectedError, PairUnavailableError: DeviceUnavailableError}

REFUSE_CHECK = {"fail_checks": 1, "check_message": "commit check: simulated refusal"}
# Without it, the secondary's INET_OUT term counts nothing: its unit is up and VRRP is backup.
COUNT_OUT = f"set firewall family inet filter INET_OUT term {SEED_TERM} then count {VRF}_OUT"


@dataclasses.dataclass(frozen=True)
class Failure:
    """A row of the failure matrix: what goes wrong where, and what the transaction says.

    Whatever the row, both routers end on day-0 (``assert_left_as``) and the failure is
    clean; a row says, per role, what the rollback did and which commits are left.
    """

    # Injected: the routers' faults (Simulator.set_faults).
    faults: Mapping[Role, Mapping[str, Any]]
    # The failure (exc.host, exc.step).
    step: str
    router: Role
    # Per role: what the rollback did there, and the commits it ends with.
    rollback: Mapping[Role, Text]
    commits: Mapping[Role, Commits]
    # Also injected: lines taken out of a router's change.
    unload: Mapping[Role, str] = dataclasses.field(default_factory=dict)
    # The failure's type and reason.
    error: type[PairError] = PairRejectedError
    reason: tuple[Text, ...] = ()
    # In the job's error (the exception's text).
    message: tuple[str, ...] = ()
    # The other router's failure in the same step, if it failed too.
    also: tuple[Role, str] | None = None


FAILURES = [
    pytest.param(
        Failure(
            faults={"secondary": REFUSE_CHECK},
            step="commit check",
            router="secondary",
            reason=(has("simulated refusal"),),
            message=(f"router {NAMES['secondary']}: commit check:",),
            rollback={"secondary": DISCARDED, "primary": DISCARDED},
            commits={"secondary": UNTOUCHED, "primary": UNTOUCHED},
        ),
        id="commit-check-on-secondary-refused",
    ),
    pytest.param(
        # The secondary comes first in the rollout and passed its own check, yet got no
        # commit (not even one rolled back): both routers are checked before either commits.
        Failure(
            faults={"primary": REFUSE_CHECK},
            step="commit check",
            router="primary",
            reason=(has("simulated refusal"),),
            rollback={"secondary": DISCARDED, "primary": DISCARDED},
            commits={"secondary": UNTOUCHED, "primary": UNTOUCHED},
        ),
        id="commit-check-on-primary-refused",
    ),
    pytest.param(
        # Both are named: the first in rollout order, and the other as ``also``; the job's
        # error (the exception's text) names both.
        Failure(
            faults={
                "secondary": {"fail_checks": 1, "check_message": "commit check: refusal one"},
                "primary": {"fail_checks": 1, "check_message": "commit check: refusal two"},
            },
            step="commit check",
            router="secondary",
            reason=(has("refusal one"),),
            message=(
                "refusal one",
                f"also router {NAMES['primary']}: commit check: refusal two",
            ),
            also=("primary", "commit check"),
            rollback={"secondary": DISCARDED, "primary": DISCARDED},
            commits={"secondary": UNTOUCHED, "primary": UNTOUCHED},
        ),
        id="commit-check-on-both-refused",
    ),
    pytest.param(
        # The second commit fails after the first was committed: the secondary's trial is
        # undone at once by a commit, not by the timer.
        Failure(
            faults={"primary": {"fail_commits": 1, "fail_message": "commit failed: disk full"}},
            step="commit confirmed",
            router="primary",
            message=("disk full",),
            rollback={"secondary": ROLLED_BACK, "primary": DISCARDED},
            commits={"secondary": TRIAL_UNDONE, "primary": UNTOUCHED},
        ),
        id="commit-confirmed-on-primary-refused",
    ),
    pytest.param(
        # The session drops after the commit was applied: the rollback finds it committed.
        Failure(
            faults={"primary": {"drop_on_commit": 1, "drop_after_apply": True}},
            step="commit confirmed",
            router="primary",
            error=PairUnavailableError,
            rollback={"secondary": ROLLED_BACK, "primary": ROLLED_BACK},
            commits={"secondary": TRIAL_UNDONE, "primary": TRIAL_UNDONE},
        ),
        id="commit-confirmed-on-primary-dropped-after-apply",
    ),
    pytest.param(
        # The session drops before anything was applied: nothing to roll back there.
        Failure(
            faults={"primary": {"drop_on_commit": 1, "drop_after_apply": False}},
            step="commit confirmed",
            router="primary",
            error=PairUnavailableError,
            rollback={"secondary": ROLLED_BACK, "primary": NOTHING_TO_UNDO},
            commits={"secondary": TRIAL_UNDONE, "primary": UNTOUCHED},
        ),
        id="commit-confirmed-on-primary-dropped-before-apply",
    ),
    pytest.param(
        Failure(
            faults={"secondary": {"drop_on_commit": 1, "drop_after_apply": True}},
            step="commit confirmed",
            router="secondary",
            error=PairUnavailableError,
            rollback={"secondary": ROLLED_BACK, "primary": DISCARDED},
            commits={"secondary": TRIAL_UNDONE, "primary": UNTOUCHED},
        ),
        id="commit-confirmed-on-secondary-dropped-after-apply",
    ),
    pytest.param(
        # Another session holds the primary's lock: it keeps it; the secondary's is released.
        Failure(
            faults={"primary": {"hold_lock": True}},
            step="lock",
            router="primary",
            error=PairUnavailableError,
            reason=(has("locked"),),
            rollback={"secondary": DISCARDED, "primary": NOTHING_TO_UNDO},
            commits={"secondary": UNTOUCHED, "primary": UNTOUCHED},
        ),
        id="lock-on-primary-held-by-another-session",
    ),
    pytest.param(
        # The backup's link is down: its unit is down. The master is never touched.
        Failure(
            faults={"secondary": {"links_down": {"ae0"}}},
            step="verify",
            router="secondary",
            reason=(has("ae0.1025 is down"),),
            rollback={"secondary": ROLLED_BACK, "primary": DISCARDED},
            commits={"secondary": TRIAL_UNDONE, "primary": UNTOUCHED},
        ),
        id="verify-on-secondary-link-down",
    ),
    pytest.param(
        # A missing counter alone fails the verification.
        Failure(
            faults={},
            unload={"secondary": COUNT_OUT},
            step="verify",
            router="secondary",
            reason=(is_(f"counter INET_OUT/{VRF}_OUT is missing"),),
            rollback={"secondary": ROLLED_BACK, "primary": DISCARDED},
            commits={"secondary": TRIAL_UNDONE, "primary": UNTOUCHED},
        ),
        id="verify-on-secondary-counter-missing",
    ),
]


@pytest.mark.parametrize("row", FAILURES)
def test_a_failure_leaves_both_routers_as_they_were(
    routers: Simulator, overrides: str, row: Failure
) -> None:
    assert set(row.rollback) == set(row.commits) == set(BODIES), "a row says both routers"
    day0 = running(routers)
    for role, faults in row.faults.items():
        routers.set_faults(SIM_NAME[NAMES[role]], **faults)
    wanted = changes("create")
    for role, line in row.unload.items():
        lines = wanted[role].commands.splitlines()
        assert line in lines
        commands = "\n".join(kept for kept in lines if kept != line) + "\n"
        wanted[role] = dataclasses.replace(wanted[role], commands=commands)

    with pytest.raises(PairError) as info:
        apply_pair(
            wanted,
            comment=COMMENT,
            overrides=overrides,
            verify=gateway_verifier(PARAMS, settle=0),
        )

    exc = info.value
    assert type(exc) is row.error and isinstance(exc, KEEPS[row.error])
    assert (exc.host, exc.step) == (NAMES[row.router], row.step)
    for want in row.reason:
        assert want(exc.reason), (exc.reason, want)
    for text in row.message:
        assert text in str(exc)
    if row.also is None:
        assert exc.also is None
    else:
        assert exc.also is not None
        assert (exc.also.host, exc.also.step) == (NAMES[row.also[0]], row.also[1])
    assert exc.clean is True
    assert set(exc.rollback) == set(SIM_NAME)
    for role, want in row.rollback.items():
        assert want(exc.rollback[NAMES[role]]), (role, exc.rollback[NAMES[role]], want)
    for role, commits in row.commits.items():
        assert tuple(c[:2] for c in history(routers, NAMES[role])) == commits, role
    # Our locks are released; one another session holds stays its own.
    held = {role for role, faults in row.faults.items() if faults.get("hold_lock")}
    for who, name in NAMES.items():
        holder = FAULT_HOLDER if who in held else None
        assert on(routers, name, lambda r: r.lock_owner) == holder, name
    assert_left_as(routers, day0)


# -- failures outside the matrix ---------------------------------------------------------------


def test_deleted_gateway_fails_a_present_verification(routers: Simulator, overrides: str) -> None:
    apply(overrides)
    created = running(routers)
    # A delete verified as if the gateway should still be there: the unit is gone.
    exc = failure(
        overrides,
        action="delete",
        comment="job delete",
        verify=gateway_verifier(PARAMS, present=True, settle=0),
    )
    assert (exc.host, exc.step) == (NAMES["secondary"], "verify")
    assert "ae0.1025 is absent" in exc.reason
    assert_left_as(routers, created)


# -- replace ---------------------------------------------------------------------------------


def test_replace_of_an_unchanged_gateway_changes_nothing(
    routers: Simulator, overrides: str
) -> None:
    apply(overrides)
    apply(overrides, params=OTHER, comment="job other", verify=None)
    for name in SIM_NAME:
        assert filter_terms(routers, name) == [SEED_TERM, OTHER_TERM, "all-accept"]
    both = running(routers)
    result = apply(overrides, "replace", comment="job repair")
    assert result.changed is False
    assert result.diffs == dict.fromkeys(SIM_NAME, "")
    assert_left_as(routers, both)
    for name in SIM_NAME:
        assert history(routers, name)[0][0] == "job other"


def test_replace_removes_a_line_added_out_of_band(routers: Simulator, overrides: str) -> None:
    apply(overrides)
    apply(overrides, params=OTHER, comment="job other", verify=None)
    both = running(routers)
    push_out_of_band(
        overrides, f"set firewall family inet filter INET_IN term {SEED_TERM} then log\n"
    )
    assert running(routers) != both
    result = apply(overrides, "replace", comment="job repair")
    assert result.changed is True
    for diff in result.diffs.values():
        assert _diff_lines(diff) == [
            f"[edit firewall family inet filter INET_IN term {SEED_TERM} then]",
            "- log;",
        ]
    # Back to what the two creates left; the term kept its place.
    assert_left_as(routers, both, exact=False)
    for name in SIM_NAME:
        assert filter_terms(routers, name) == [SEED_TERM, OTHER_TERM, "all-accept"]


def test_replace_puts_back_a_deleted_term_before_all_accept(
    routers: Simulator, overrides: str
) -> None:
    apply(overrides)
    apply(overrides, params=OTHER, comment="job other", verify=None)
    push_out_of_band(overrides, f"delete firewall family inet filter INET_IN term {SEED_TERM}\n")
    for name in SIM_NAME:
        assert filter_terms(routers, name) == [OTHER_TERM, "all-accept"]
    result = apply(overrides, "replace", comment="job repair")
    assert result.changed is True
    for name, diff in result.diffs.items():
        lines = _diff_lines(diff)
        assert lines[0] == "[edit firewall family inet filter INET_IN]", name
        assert f"+ term {SEED_TERM} {{" in lines
        assert lines[-1].strip() == "term all-accept { ... }"
        assert filter_terms(routers, name) == [OTHER_TERM, SEED_TERM, "all-accept"]
        assert filter_terms(routers, name, "INET_OUT") == [SEED_TERM, OTHER_TERM, "all-accept"]
    assert_left_as(routers, running(routers))


def test_replace_takes_off_the_vrf_config_of_before(routers: Simulator, overrides: str) -> None:
    static = "routing-options {\n    static {\n        route 0.0.0.0/0 discard;\n    }\n}\n"
    before = {**PARAMS, "jinja_vrf_config": f"description before;\n{static}"}
    limit = "routing-options {\n    maximum-routes {\n        limit 100;\n    }\n}\n"
    after = {**PARAMS, "jinja_vrf_config": limit}
    apply(overrides, params=before)
    instance = f"routing-instances/instance[name='{VRF}']"
    for name in SIM_NAME:
        assert on(routers, name, lambda r: r.running.findtext(f"{instance}/description")) == (
            "before"
        )
    result = apply(overrides, "replace", params=after, comment="job modify")
    assert result.changed is True
    for name, diff in result.diffs.items():
        lines = _diff_lines(diff)
        assert "- description before;" in lines, name
        assert "- static {" in lines, name
        assert "+ maximum-routes {" in lines, name
        config = on(routers, name, lambda r: etree.fromstring(tree.canonical_bytes(r.running)))
        got = config.find(instance)
        assert got is not None
        assert got.find("description") is None, name
        assert got.find("routing-options/static") is None, name
        assert got.findtext("routing-options/maximum-routes/limit") == "100", name
        # What the create sets is still there.
        assert got.findtext("interface/name") == "ae0.1025", name
        assert got.findtext("routing-options/instance-import") == "INSTANCE-USER_IN", name
    # And again: nothing to do.
    assert apply(overrides, "replace", params=after, comment="job again").changed is False


def test_unreachable_router_is_left_to_its_confirm_timer(tmp_path: Path) -> None:
    # A Junos minute of two seconds: the unconfirmed commit reverts while the test waits.
    specs = [
        RouterSpec("MX-1", "127.0.0.1", 0, role="secondary"),
        RouterSpec("MX-2", "127.0.0.1", 0, role="primary"),
    ]
    with Simulator(specs, minute=2.0) as sim:
        overrides = str(write_overrides(sim, tmp_path / "overrides.yaml"))
        day0 = running(sim)
        check = gateway_verifier(PARAMS, settle=0)

        def verify_then_vanish(task: Task, role: Role) -> None:
            check(task, role)
            if role == "primary":
                # The master goes away right after its trial commit: no session, no new one.
                sim.set_faults("MX-2", refuse_connections=True)
                device = sim.router("MX-2")
                sim.call(lambda: [s.drop() for s in list(device.sessions.values())])
                raise DeviceUnavailableError(task.host.name, "verify", "router went away")

        exc = failure(overrides, verify=verify_then_vanish)
        assert (exc.host, exc.step) == (NAMES["primary"], "verify")
        assert exc.clean is True
        assert "rolled back to its previous configuration" in exc.rollback[NAMES["secondary"]]
        assert "reverts by itself within 1 min" in exc.rollback[NAMES["primary"]]
        assert on(sim, NAMES["primary"], lambda r: r.confirm_pending)
        sim.set_faults("MX-2", refuse_connections=False)
        eventually(lambda: running(sim) == day0, timeout=20, what="the primary reverted by itself")
        assert history(sim, NAMES["primary"])[0][0] == "automatic rollback"
        assert_left_as(sim, day0)


def test_rerun_confirms_the_trial_commit_its_dead_first_run_left(
    routers: Simulator, overrides: str
) -> None:
    # The first run died after `commit confirmed` on both routers, before confirming: the
    # change is on the routers (no diff for the re-run), under timers that would revert it.
    nr = nornir_for([PRIMARY, SECONDARY], overrides)
    try:
        for role, router in (("primary", PRIMARY), ("secondary", SECONDARY)):
            result = nr.filter(name=router["name"]).run(
                task=push_config,
                commands=changes("create")[role].commands,
                comment=COMMENT,
                confirm_minutes=1,
            )
            assert not result.failed
    finally:
        nr.close_connections()
    for name in SIM_NAME:
        assert on(routers, name, lambda r: r.confirm_pending), name
    trial = running(routers)

    again = apply(overrides)
    assert again.changed is False
    for name in SIM_NAME:
        assert on(routers, name, lambda r: r.confirm_pending) is False, name
        comment, confirmed, _ = history(routers, name)[0]
        assert (comment, confirmed) == (COMMENT, False), name  # the confirming commit
    assert_left_as(routers, trial)
