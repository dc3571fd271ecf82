"""Commit coalescing on the simulated pair: changes that wait for the pair at the same
moment share one transaction, and each keeps its own outcome (``nornir_esi.pair.coalesce``).

The first change's transaction is held at a gate until the others are queued behind it,
so which changes share the second transaction is known, not a matter of timing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest

from nornir_esi.exceptions import PairRejectedError
from nornir_esi.netsim.server import Simulator
from nornir_esi.pair.change import Change, PairResult
from nornir_esi.pair.devices import NornirDevices
from nornir_esi.services.internet_gateway.verify import gateway_verifier
from tests.pair.test_pair import PARAMS, assert_left_as, changes, history, on, running
from tests.store.helpers import eventually
from tests.tasks.conftest import SIM_NAME


def gateway(vlan: int) -> dict[str, Any]:
    """The seed gateway's params moved to VLAN ``vlan``: a gateway of its own on the pair."""
    vrf = f"vrf_gw_{vlan}"
    return {
        **PARAMS,
        "vrf_name": vrf,
        "vlan": str(vlan),
        "primary_device_logical_interface": f"ae0.{vlan}",
        "secondary_device_logical_interface": f"ae0.{vlan}",
        "prefix_list_name": f"{vrf}_prefix",
        "filter_term_name": f"{vrf}_filter",
    }


def units(sim: Simulator, name: str) -> set[str]:
    return on(
        sim,
        name,
        lambda r: {
            str(u) for u in r.running.xpath("interfaces/interface[name='ae0']/unit/name/text()")
        },
    )


class Gated:
    """The devices' transactions, the first one held until ``release``."""

    def __init__(self, devices: NornirDevices) -> None:
        self.devices = devices
        self.apply = devices.coalescer.apply
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.comments: list[str] = []
        devices.coalescer.apply = self

    def __call__(self, changes: Any, **kwargs: Any) -> PairResult:
        self.comments.append(kwargs["comment"])
        if len(self.comments) == 1:
            self.entered.set()
            assert self.gate.wait(60), "the test never opened the gate"
        return self.apply(changes, **kwargs)


@pytest.fixture
def gated(overrides: str) -> Iterator[Gated]:
    yield Gated(NornirDevices(overrides))


def submit(
    pool: ThreadPoolExecutor, gated: Gated, job: str, params: dict[str, Any], **kwargs: Any
) -> Future[PairResult]:
    wanted = kwargs.pop("changes", None) or changes("create", params)
    present = kwargs.pop("present", True)
    return pool.submit(
        gated.devices.push_pair,
        wanted,
        comment=job,
        verify=gateway_verifier(params, present=present, settle=0),
        subject=("internet_gateway", params["vrf_name"]),
        **kwargs,
    )


def queued(gated: Gated, count: int) -> bool:
    return gated.devices.coalescer.waiting() == count


def test_changes_waiting_for_the_pair_share_one_transaction(
    routers: Simulator, gated: Gated
) -> None:
    day0 = running(routers)
    vlans = [1101, 1102, 1103, 1104, 1105]
    with ThreadPoolExecutor(len(vlans)) as pool:
        first = submit(pool, gated, "job-1101", gateway(vlans[0]))
        assert gated.entered.wait(30)
        rest = [submit(pool, gated, f"job-{v}", gateway(v)) for v in vlans[1:]]
        eventually(lambda: queued(gated, len(rest)), what="the other four queued")
        gated.gate.set()
        results = [first.result(60), *(f.result(60) for f in rest)]
    # Two transactions: the first alone, then the four that waited for it, together.
    assert gated.comments == ["job-1101", "job-1102 job-1103 job-1104 job-1105"]
    assert [r.batched for r in results] == [1, 4, 4, 4, 4]
    assert all(r.changed for r in results)
    for name in SIM_NAME:
        assert {str(v) for v in vlans} <= units(routers, name), name
        comments = [comment for comment, _, _ in history(routers, name)]
        # Newest first: both commits of each transaction name its jobs; then day-0.
        assert comments[:4] == [gated.comments[1]] * 2 + [gated.comments[0]] * 2, name
        assert len(comments) == 5, name
    assert running(routers) != day0
    assert_left_as(routers, running(routers))


def test_a_refused_change_is_split_out_and_fails_alone(routers: Simulator, gated: Gated) -> None:
    good = [1201, 1202, 1203]
    bad = gateway(1204)
    # A reference to a policy no router has: commit check refuses it (Junos does too).
    refused = {
        role: replace(
            change,
            commands=change.commands
            + f"set routing-instances {bad['vrf_name']} vrf-import NO_SUCH_POLICY\n",
        )
        for role, change in changes("create", bad).items()
    }
    with ThreadPoolExecutor(5) as pool:
        first = submit(pool, gated, "job-1200", gateway(1200))
        assert gated.entered.wait(30)
        futures = [submit(pool, gated, f"job-{v}", gateway(v)) for v in good[:2]]
        futures.append(submit(pool, gated, "job-1204", bad, changes=refused))
        futures.append(submit(pool, gated, "job-1203", gateway(1203)))
        eventually(lambda: queued(gated, 4), what="the other four queued")
        gated.gate.set()
        assert first.result(60).batched == 1
        outcomes = {}
        for future in futures:
            try:
                outcomes[future] = future.result(120)
            except PairRejectedError as exc:
                outcomes[future] = exc
    failed = outcomes[futures[2]]
    assert isinstance(failed, PairRejectedError)
    assert failed.step == "commit check" and "NO_SUCH_POLICY" in str(failed)
    assert failed.clean
    for future in (futures[0], futures[1], futures[3]):
        assert isinstance(outcomes[future], PairResult)
    # The batch of four was refused whole, then its halves: the good half together, the
    # other half apart again, until the bad change was alone.
    assert gated.comments == [
        "job-1200",
        "job-1201 job-1202 job-1204 job-1203",
        "job-1201 job-1202",
        "job-1204 job-1203",
        "job-1204",
        "job-1203",
    ]
    for name in SIM_NAME:
        carried = units(routers, name)
        assert {"1200", "1201", "1202", "1203"} <= carried, name
        assert "1204" not in carried, name
    assert_left_as(routers, running(routers))


def test_two_changes_to_one_gateway_never_share_a_transaction(
    routers: Simulator, gated: Gated
) -> None:
    params = gateway(1301)
    with ThreadPoolExecutor(3) as pool:
        first = submit(pool, gated, "job-1300", gateway(1300))
        assert gated.entered.wait(30)
        create = submit(pool, gated, "job-1301-create", params)
        eventually(lambda: queued(gated, 1), what="the create queued")
        delete = submit(
            pool, gated, "job-1301-delete", params, changes=changes("delete", params), present=False
        )
        eventually(lambda: queued(gated, 2), what="the delete queued")
        gated.gate.set()
        first.result(60)
        assert create.result(60).batched == 1
        assert delete.result(60).batched == 1
    # The delete waited for the create's transaction: one gateway, one change at a time.
    assert gated.comments[1:] == ["job-1301-create", "job-1301-delete"]
    for name in SIM_NAME:
        assert "1301" not in units(routers, name), name
        assert "1300" in units(routers, name), name


def test_a_change_for_an_idle_pair_waits_for_nothing(routers: Simulator, overrides: str) -> None:
    devices = NornirDevices(overrides)
    result = devices.push_pair(
        changes("create"), comment="job-alone", verify=gateway_verifier(PARAMS, settle=0)
    )
    assert result.batched == 1 and result.changed
    assert devices.coalescer.transactions == 1
    assert devices.coalescer.waiting() == 0
    for name in SIM_NAME:
        assert history(routers, name)[0][0] == "job-alone", name


def test_batch_of_one_applies_each_change_alone(routers: Simulator, overrides: str) -> None:
    devices = NornirDevices(overrides, max_batch=1)
    gated = Gated(devices)
    with ThreadPoolExecutor(3) as pool:
        first = submit(pool, gated, "job-1400", gateway(1400))
        assert gated.entered.wait(30)
        rest = [submit(pool, gated, f"job-{v}", gateway(v)) for v in (1401, 1402)]
        eventually(lambda: queued(gated, 2), what="two queued")
        gated.gate.set()
        assert [f.result(60).batched for f in (first, *rest)] == [1, 1, 1]
    assert gated.comments == ["job-1400", "job-1401", "job-1402"]


def test_the_merged_change_loads_every_part(routers: Simulator) -> None:
    from nornir_esi.pair.coalesce import merge

    one, two = changes("create", gateway(1501)), changes("delete", gateway(1502))
    merged = merge([one, two])
    for role in ("primary", "secondary"):
        assert merged[role].router == one[role].router
        assert merged[role].commands.splitlines() == (
            one[role].commands.splitlines() + two[role].commands.splitlines()
        )
        assert merged[role].text == one[role].text  # the delete loads no text
        assert set(merged[role].prune_policies) == set(two[role].prune_policies)
        assert isinstance(merged[role], Change)
