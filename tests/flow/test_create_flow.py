"""The create flow end to end on real etcd and two simulated routers, against the origin.

Every key the origin captured while the seed's gateway and everything it depends on were
created (``fixtures/origin-internet-gateway-scenario.json``) must be written here with an
equal value, checkpoint by checkpoint and in the same order within each flow; the job
ids' random suffixes are the only difference allowed. Each router then carries exactly
the stanzas of the origin's diff.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from nornir_esi.contract import desired, keys
from nornir_esi.doors.waiting import wait_for_state
from nornir_esi.junos.diff import diff_text
from nornir_esi.netsim.server import Simulator
from nornir_esi.service import Service
from nornir_esi.store.base import Event, Store
from nornir_esi.store.feed import Feed
from tests.origin import config_bodies, scenario_steps, seed_entries, strict
from tests.store.helpers import eventually

from .conftest import INVENTORY, ROUTERS

_SUFFIX = re.compile(r"(:\d+):[a-z0-9]{5}\b")
_ORIGIN_DIFF = Path(__file__).parent.parent / "fixtures" / "origin-junos-diff.txt"


def _norm(text: str) -> str:
    """Job ids without their random suffix."""
    return _SUFFIX.sub(r"\1:*", text)


def _normalized(value: Any) -> Any:
    return json.loads(_norm(json.dumps(value)))


def _json(text: str) -> Any:
    """A stored value: JSON documents decoded, plain text (queue keys' handler names) kept."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _record(store: Store, revision: int, until: list[tuple[str, str]]) -> list[Event]:
    """Every event from ``revision`` on, until each resource in ``until`` has a /state."""
    events: list[Event] = []
    waiting = {keys.state(t, i) for t, i in until}
    with Feed(store, ["/"], start_revision=revision) as feed:
        while waiting:
            event = feed.get(timeout=60)
            assert event is not None, f"no /state yet for {sorted(waiting)}"
            events.append(event)
            if event.kind == "put" and event.key in waiting:
                state = json.loads(event.value)["state"]["worker_state"]
                assert not state.endswith("_FAILED"), f"{event.key}: {event.value}"
                waiting.discard(event.key)
    return events


def test_the_seed_is_part_of_the_scenario() -> None:
    """The seed's keys and values are among the scenario's (which the flow test checks),
    compared strictly: ``1`` is not ``true``, ``830`` not ``"830"``."""
    scenario = {(_norm(s["key"]), strict(_normalized(s["value"]))) for s in scenario_steps()}
    seed = [(_norm(k), strict(_normalized(v))) for k, v in seed_entries()]
    assert len(seed) >= 6
    missing = [key for key, value in seed if (key, value) not in scenario]
    assert missing == []


def _planned_together(events: list[Event], resource_type: str, resource_id: str) -> None:
    """The manager's planning writes for a new resource landed in ONE transaction: the
    worker cache, both ``/jobs/all`` entries, ``ready`` (heat), ``waiting`` (monitoring)
    and the empty job state share one revision."""
    puts = [e for e in events if e.kind == "put"]

    def first(predicate: Any, what: str) -> Event:
        found = [e for e in puts if predicate(e)]
        assert found, what
        return found[0]

    def job(prefix: str, handler: str) -> Event:
        tag = f":{handler}:{resource_type}:{resource_id}:1:"
        return first(lambda e: e.key.startswith(prefix) and tag in e.key, f"{prefix} {handler}")

    written = {
        "worker cache": first(
            lambda e: e.key == keys.worker_config(resource_type, resource_id), "cache"
        ),
        "all heat": job(keys.JOBS_ALL, "heat_worker"),
        "all monitoring": job(keys.JOBS_ALL, "monitoring_worker"),
        "ready heat": job(keys.JOBS_READY, "heat_worker"),
        "waiting monitoring": job(keys.JOBS_WAITING, "monitoring_worker"),
        "job state": first(lambda e: e.key == keys.job_state(resource_type, resource_id), "js"),
    }
    assert json.loads(written["job state"].value) == {}
    revisions = {name: e.mod_revision for name, e in written.items()}
    assert len(set(revisions.values())) == 1, revisions
    # No job of the resource came before: the cache and the jobs appear together.
    assert not any(
        e.key.startswith(keys.JOBS_PREFIX)
        and resource_id in e.key
        and e.mod_revision < revisions["worker cache"]
        for e in puts
    )


def _origin_sections() -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current = ""
    for line in _ORIGIN_DIFF.read_text().splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
            sections[current] = []
        elif current and line.strip() and not line.startswith("#") and line != "[edit]":
            sections[current].append(" ".join(line.split()))
    return sections


def _as_captured(items: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """The sample resources with the routers' password in clear, as the origin stored it."""
    bodies = config_bodies()
    return [
        (t, {**b, "password": bodies[(t, b["id"])]["password"]} if "password" in b else b)
        for t, b in items
    ]


def test_create_flow_reproduces_every_origin_key(pair: Simulator, service_store: Store) -> None:
    store = service_store
    items = _as_captured(desired.load_file(INVENTORY / "resources.yaml"))
    gateway = desired.load_file(INVENTORY / "gateway.yaml")
    # As the origin did: one resource after the other, each once the previous is done (in
    # one batch, a resource's first job would also wait for those it references). The
    # origin stored plain passwords: only the compatibility switch writes them.
    events: list[Event] = []
    for item in [*items, *gateway]:
        start = store.revision() + 1
        desired.apply(store, [item], plaintext_secrets=True)
        recorded = _record(store, start, [(item[0], item[1]["id"])])
        events += recorded
    _planned_together(recorded, gateway[0][0], gateway[0][1]["id"])

    # Values compared as strict JSON text: ``==`` would take ``1`` for ``true``.
    puts = [
        (e.mod_revision, _norm(e.key), strict(_normalized(_json(e.value))))
        for e in events
        if e.kind == "put"
    ]
    last_revision: dict[str, int] = {}
    for step in scenario_steps():
        key, value = _norm(step["key"]), strict(_normalized(step["value"]))
        matches = [rev for rev, k, v in puts if k == key and v == value]
        assert matches, (
            f"{step['flow']} checkpoint {step['point']}: {step['key']} never had the origin's "
            f"value; ours: {[v for _, k, v in puts if k == key]}"
        )
        flow = step["flow"]
        after = [rev for rev in matches if rev >= last_revision.get(flow, 0)]
        assert after, f"{flow} checkpoint {step['point']} came before the previous checkpoint"
        last_revision[flow] = after[0]

    # After the last job: job state and queues are gone; /state, heat stack, cache stay.
    gw_type, gw = gateway[0][0], gateway[0][1]
    assert store.get(keys.job_state(gw_type, gw["id"])) is None
    queues = (
        keys.JOBS_ALL,
        keys.JOBS_READY,
        keys.JOBS_WAITING,
        keys.JOBS_WORKING,
        keys.JOBS_FINISHED,
    )
    # The manager collects the last job right after its /state.
    eventually(lambda: all(store.get_prefix(q) == [] for q in queues), what="empty job queues")
    state = wait_for_state(store, gw_type, gw["id"], timeout=1)
    assert state is not None and state.worker_state == "CREATE_COMPLETED"

    # Each router carries exactly the origin's stanzas, and its commit names the job.
    sections = _origin_sections()
    for origin_name, router_name in (("MX-1", ROUTERS["secondary"]), ("MX-2", ROUTERS["primary"])):
        router = pair.router(router_name)
        day0, running = router.history[-1].config, router.running
        ours = [
            " ".join(line.split()) for line in diff_text(day0, running).splitlines() if line.strip()
        ]
        assert ours == sections[origin_name], router_name
        assert router.history[0].comment.startswith("create:heat_worker:internet_gateway:")


def test_a_manager_plans_what_was_written_while_none_ran(
    store: Store, pair: Simulator, overrides: Path
) -> None:
    """Nothing depends on events a manager saw: it reconciles from etcd when it starts."""
    pair.reset()
    items = desired.load_file(INVENTORY / "resources.yaml")
    items += desired.load_file(INVENTORY / "gateway.yaml")
    desired.apply(store, items)  # no manager, no worker yet
    assert store.get_prefix(keys.JOBS_ALL) == []
    with Service(store, inventory=str(overrides), manager_lease_ttl=5, worker_lease_ttl=5):
        for resource_type, body in items:
            state = wait_for_state(store, resource_type, body["id"], timeout=60)
            assert state is not None, body["id"]
            assert state.worker_state in ("CREATE_COMPLETED", "READ_COMPLETE"), state
