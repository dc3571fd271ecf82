"""A re-run after a dead run: the pair ends fully changed or unchanged, never half.

The worst moment for a worker to die is after the first router's ``commit confirmed`` and
before the second's: the first router carries the change under a timer that reverts it,
the second does not carry it. The re-run has no diff on the first and one on the second.
"""

from __future__ import annotations

from nornir_esi.device.inventory import nornir_for
from nornir_esi.exceptions import DeviceBusyError, PairUnavailableError
from nornir_esi.netsim.server import Simulator
from nornir_esi.tasks import push_config
from tests.pair.test_pair import (
    COMMENT,
    NAMES,
    SIM_NAME,
    apply,
    assert_left_as,
    changes,
    failure,
    history,
    on,
    running,
)
from tests.tasks.conftest import SECONDARY


def first_run_died_after_the_secondary_trial(routers: Simulator, overrides: str) -> None:
    """What the dead run left: the secondary on its trial commit, the primary untouched."""
    nr = nornir_for([SECONDARY], overrides)
    try:
        result = nr.run(
            task=push_config,
            commands=changes("create")["secondary"].commands,
            comment=COMMENT,
            confirm_minutes=1,
        )
        assert not result.failed
    finally:
        nr.close_connections()
    assert on(routers, NAMES["secondary"], lambda r: r.confirm_pending)
    assert len(history(routers, NAMES["primary"])) == 1


def test_a_rerun_confirms_the_trial_one_router_was_left_on(
    routers: Simulator, overrides: str
) -> None:
    # Where it should end: the change on both routers, from a clean run elsewhere.
    apply(overrides)
    changed = running(routers)
    routers.reset()
    first_run_died_after_the_secondary_trial(routers, overrides)

    again = apply(overrides)

    assert again.changed is True
    assert again.diffs[NAMES["secondary"]] == ""
    assert again.diffs[NAMES["primary"]] != ""
    # The secondary's trial was confirmed, not left to its timer.
    assert [c[:2] for c in history(routers, NAMES["secondary"])[:2]] == [
        (COMMENT, False),
        (COMMENT, True),
    ]
    assert [c[:2] for c in history(routers, NAMES["primary"])[:2]] == [
        (COMMENT, False),
        (COMMENT, True),
    ]
    assert_left_as(routers, changed)


def test_a_failed_rerun_rolls_back_the_trial_it_took_over(
    routers: Simulator, overrides: str
) -> None:
    day0 = running(routers)
    first_run_died_after_the_secondary_trial(routers, overrides)
    routers.set_faults(SIM_NAME[NAMES["primary"]], fail_checks=1, check_message="refused")

    exc = failure(overrides)

    assert (exc.host, exc.step) == (NAMES["primary"], "commit check")
    assert exc.clean is True
    assert "rolled back to its previous configuration" in exc.rollback[NAMES["secondary"]]
    assert [c[:2] for c in history(routers, NAMES["secondary"])[:2]] == [
        (f"rollback of {COMMENT}", False),
        (COMMENT, True),
    ]
    assert len(history(routers, NAMES["primary"])) == 1
    assert_left_as(routers, day0)


def test_a_trial_of_another_change_makes_the_router_busy(
    routers: Simulator, overrides: str
) -> None:
    first_run_died_after_the_secondary_trial(routers, overrides)
    before = running(routers)
    secondary_history = history(routers, NAMES["secondary"])

    # Another change (another job's comment) finds the secondary on a trial it does not
    # own: committing would confirm that trial with it. It waits instead (a busy router).
    exc = failure(overrides, comment="someone-else")

    assert isinstance(exc, PairUnavailableError)
    assert isinstance(exc.cause, DeviceBusyError)
    assert (exc.host, exc.step) == (NAMES["secondary"], "resume")
    assert COMMENT in exc.reason
    assert running(routers) == before
    assert history(routers, NAMES["secondary"]) == secondary_history
    assert on(routers, NAMES["secondary"], lambda r: r.confirm_pending)
    assert len(history(routers, NAMES["primary"])) == 1
    for name in SIM_NAME:
        assert on(routers, name, lambda r: r.lock_owner) is None, name
        assert not on(routers, name, lambda r: r.candidate_modified()), name
