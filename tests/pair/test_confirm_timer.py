"""A confirm timer that runs out inside the transaction: the router reverts by itself.

Junos puts the configuration of before back when a ``commit confirmed`` is not confirmed
in time. If that happens while the transaction still verifies (a slow router, a verifier
that waits for VRRP to settle), the confirm step finds its trial commit gone. The router
is then back on its previous configuration by itself, which the rollback must see: the
transaction failed cleanly, nothing needs a person.

A simulator of its own, whose Junos minute is 0.2 s, so the timer runs out in the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from nornir.core.task import Task

from nornir_esi.exceptions import PairError
from nornir_esi.netsim.server import RouterSpec, Simulator
from nornir_esi.pair.change import Role
from nornir_esi.pair.transaction import apply_pair
from tests.pair.test_pair import NAMES, SIM_NAME, assert_left_as, changes, on, running
from tests.store.helpers import eventually
from tests.tasks.conftest import write_overrides

MINUTE = 0.2


@pytest.fixture(scope="module")
def quick() -> Iterator[Simulator]:
    specs = [
        RouterSpec("MX-1", "127.0.0.1", 0, role="secondary"),
        RouterSpec("MX-2", "127.0.0.1", 0, role="primary"),
    ]
    with Simulator(specs, minute=MINUTE) as simulator:
        yield simulator


def test_a_trial_reverted_by_its_timer_during_verification_is_a_clean_failure(
    quick: Simulator, tmp_path: Path
) -> None:
    quick.reset()
    overrides = str(write_overrides(quick, tmp_path / "overrides.yaml"))
    day0 = running(quick)

    def verify(task: Task, role: Role) -> None:
        # The secondary is verified slowly: until its trial commit reverted by itself.
        if role == "secondary":
            eventually(
                lambda: (
                    on(quick, NAMES["secondary"], lambda r: r.history[0].comment)
                    == "automatic rollback"
                ),
                timeout=30,
                what="the secondary's trial reverted by its timer",
            )

    with pytest.raises(PairError) as info:
        apply_pair(changes("create"), comment="job timer", overrides=overrides, verify=verify)
    exc = info.value
    assert (exc.host, exc.step) == (NAMES["secondary"], "confirm")
    assert "no longer the newest commit" in exc.reason
    assert exc.clean is True
    assert exc.rollback[NAMES["secondary"]].startswith(
        "back on its previous configuration by itself"
    )
    assert_left_as(quick, day0)
    for name in SIM_NAME:
        assert on(quick, name, lambda r: r.lock_owner) is None, name
