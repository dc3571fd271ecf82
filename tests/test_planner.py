"""The planner's workflows (CONTRACT section 5), without a store: config in, jobs out.

Creates are held against the original's captured jobs (``fixtures/``): same fields, same
params, same dependency; only the random id suffix differs. Updates and deletes were never
captured: their shape is the contract's.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from nornir_esi.contract import keys
from nornir_esi.contract.records import ConfigRecord, HeatTemplate, Job, WorkerCache
from nornir_esi.jobs.planner import Plan, plan
from nornir_esi.jobs.worker import terminal_state
from tests.origin import Graph, config_bodies, scenario_steps, strict, template_records

GW = "internet_gateway"
GW_ID = "429e24b5-a2f0-4fb8-b467-e335857e9476"
# Types with a monitoring template only: one job per workflow, first and last at once.
MONITORING_ONLY = {
    "edge_router": "9b82b55a-551e-4069-ae77-c972e30ab0cc",
    "er_physical_interface": "1fda2a88-f7e9-4982-9ce2-d65c9611aae7",
    "ha_router": "d4286c1d-86e7-42d3-9d84-a4d9daa3ae17",
    "ha_interface": "1205d3f2-7568-412a-a554-012340ab3172",
}
# Types without templates: nothing for a worker to do.
NON_WORKABLE = {
    "internet_service": "848e04de-733d-4f98-8971-bdb3b83e0296",
    "qos_option": "e25f6309-c384-446e-bdc1-5241cb14890b",
}

TEMPLATES = {
    tid: HeatTemplate.from_value(record["value"]["body"])
    for tid, record in template_records().items()
}
CAPTURED = [s["value"] for s in scenario_steps() if s["key"].startswith(keys.JOBS_ALL)]


def _plan(
    resource_type: str,
    resource_id: str,
    *,
    version: int = 1,
    cached: WorkerCache | None = None,
    deleting: bool = False,
    body: dict[str, Any] | None = None,
) -> Plan:
    bodies = config_bodies()
    if body is None:
        body = copy.deepcopy(bodies[(resource_type, resource_id)])
    record = ConfigRecord(body=body, version=version, marked_for_deletion=deleting)
    return plan(resource_type, resource_id, record, cached, TEMPLATES, Graph(bodies))


def _previous(resource_type: str, resource_id: str, *, deleted: bool = False) -> WorkerCache:
    """The job manager's cache after version 1 was planned."""
    return WorkerCache(
        body=config_bodies()[(resource_type, resource_id)], deleted=deleted, version=1
    )


def _shape(job: Job) -> tuple[str, str, bool, bool, str]:
    return (job.action, job.handler, job.is_first, job.is_last, job.on_failure)


def _without_suffix(job_id: str) -> str:
    return job_id.rsplit(":", 1)[0]


def _assert_id_names_the_job(job: Job, resource_type: str, resource_id: str, version: int) -> None:
    parsed = keys.parse_job_id(job.id)
    assert (parsed.action, parsed.handler) == (job.action, job.handler)
    assert (parsed.resource_type, parsed.resource_id, parsed.version) == (
        resource_type,
        resource_id,
        version,
    )
    assert (job.resource_type, job.resource_id, job.version) == (
        resource_type,
        resource_id,
        version,
    )
    assert job.job_name == f"{resource_type}:{resource_id}:{version}"


class TestCreate:
    @pytest.mark.parametrize(
        "captured", CAPTURED, ids=[_without_suffix(c[1]["id"]) for c in CAPTURED]
    )
    def test_reproduces_the_captured_job(self, captured: list[Any]) -> None:
        handler, expected, attempts = captured
        workflow = _plan(expected["resource_type"], expected["resource_id"])
        assert workflow.state is None
        by_handler = {j.handler: j for j in workflow.jobs}
        job = by_handler[handler]
        ids = {_without_suffix(j.id): j.id for j in workflow.jobs}
        got = job.to_value()
        # The captured dependency, with this plan's suffixes.
        want = dict(
            expected,
            id=job.id,
            dependency=[ids[_without_suffix(d)] for d in expected["dependency"]],
        )
        assert strict(got) == strict(want)
        assert attempts == 0

    def test_gateway_heat_first_then_monitoring_last(self) -> None:
        workflow = _plan(GW, GW_ID)
        heat, monitoring = workflow.jobs
        assert [_shape(j) for j in workflow.jobs] == [
            ("create", "heat_worker", True, False, "fail"),
            ("create", "monitoring_worker", False, True, "fail"),
        ]
        assert heat.dependency == []
        assert monitoring.dependency == [heat.id]
        for job in workflow.jobs:
            _assert_id_names_the_job(job, GW, GW_ID, 1)
        assert terminal_state(monitoring) == "CREATE_COMPLETED"

    def test_after_a_completed_delete_the_resource_is_created_again(self) -> None:
        workflow = _plan(GW, GW_ID, version=3, cached=_previous(GW, GW_ID, deleted=True))
        assert [_shape(j) for j in workflow.jobs] == [
            ("create", "heat_worker", True, False, "fail"),
            ("create", "monitoring_worker", False, True, "fail"),
        ]

    def test_two_plans_of_one_version_never_share_a_job_id(self) -> None:
        first, second = _plan(GW, GW_ID), _plan(GW, GW_ID)
        assert {j.id for j in first.jobs}.isdisjoint(j.id for j in second.jobs)


class TestUpdate:
    def test_gateway_update_is_delete_monitoring_modify_heat_create_monitoring(self) -> None:
        body = dict(config_bodies()[(GW, GW_ID)], vrf_name="vrf_gw_changed")
        workflow = _plan(GW, GW_ID, version=2, cached=_previous(GW, GW_ID), body=body)
        assert workflow.state is None
        delete, modify, create = workflow.jobs
        assert [_shape(j) for j in workflow.jobs] == [
            ("delete", "monitoring_worker", True, False, "ignore"),
            ("modify", "heat_worker", False, False, "fail"),
            ("create", "monitoring_worker", False, True, "fail"),
        ]
        assert delete.dependency == []
        assert modify.dependency == [delete.id]
        assert create.dependency == [delete.id, modify.id]
        for job in workflow.jobs:
            _assert_id_names_the_job(job, GW, GW_ID, 2)
            assert job.resource_input == body  # every job sees the new version's body
        # Params are evaluated from the new body.
        assert {p.param: p.value for p in modify.params}["vrf_name"] == "vrf_gw_changed"
        for job in (delete, create):
            assert any("vrf_gw_changed" in str(p.value) for p in job.params), job.params
        # The last job is a create, but the workflow modified: MODIFY_COMPLETED.
        assert terminal_state(create) == "MODIFY_COMPLETED"

    @pytest.mark.parametrize("resource_type", sorted(MONITORING_ONLY))
    def test_monitoring_only_update_replaces_the_monitoring(self, resource_type: str) -> None:
        resource_id = MONITORING_ONLY[resource_type]
        workflow = _plan(
            resource_type, resource_id, version=2, cached=_previous(resource_type, resource_id)
        )
        delete, create = workflow.jobs
        assert [_shape(j) for j in workflow.jobs] == [
            ("delete", "monitoring_worker", True, False, "ignore"),
            ("create", "monitoring_worker", False, True, "fail"),
        ]
        assert create.dependency == [delete.id]
        # An update, though no job modifies: MODIFY_COMPLETED.
        assert terminal_state(create) == "MODIFY_COMPLETED"
        for job in workflow.jobs:
            _assert_id_names_the_job(job, resource_type, resource_id, 2)


class TestMonitoringOnlyCreate:
    @pytest.mark.parametrize("resource_type", sorted(MONITORING_ONLY))
    def test_one_monitoring_job_first_and_last(self, resource_type: str) -> None:
        resource_id = MONITORING_ONLY[resource_type]
        workflow = _plan(resource_type, resource_id)
        assert workflow.state is None
        (job,) = workflow.jobs
        assert _shape(job) == ("create", "monitoring_worker", True, True, "fail")
        assert job.dependency == []
        _assert_id_names_the_job(job, resource_type, resource_id, 1)
        assert terminal_state(job) == "CREATE_COMPLETED"


class TestLogicalDelete:
    def test_gateway_delete_is_one_heat_job(self) -> None:
        workflow = _plan(GW, GW_ID, version=2, cached=_previous(GW, GW_ID), deleting=True)
        assert workflow.state is None
        (job,) = workflow.jobs
        assert _shape(job) == ("logical_delete", "heat_worker", True, True, "fail")
        assert job.dependency == []
        _assert_id_names_the_job(job, GW, GW_ID, 2)
        assert terminal_state(job) == "DELETE_COMPLETED"

    @pytest.mark.parametrize("resource_type", sorted(MONITORING_ONLY))
    def test_monitoring_only_delete_is_one_monitoring_job(self, resource_type: str) -> None:
        resource_id = MONITORING_ONLY[resource_type]
        workflow = _plan(
            resource_type,
            resource_id,
            version=2,
            cached=_previous(resource_type, resource_id),
            deleting=True,
        )
        (job,) = workflow.jobs
        assert _shape(job) == ("logical_delete", "monitoring_worker", True, True, "fail")
        _assert_id_names_the_job(job, resource_type, resource_id, 2)


class TestNonWorkable:
    @pytest.mark.parametrize("resource_type", sorted(NON_WORKABLE))
    def test_read_complete_at_once(self, resource_type: str) -> None:
        workflow = _plan(resource_type, NON_WORKABLE[resource_type])
        assert workflow.jobs == []
        assert workflow.state is not None
        assert workflow.state.to_value() == {
            "state": {"worker_state": "READ_COMPLETE"},
            "version": 1,
            "error": "",
        }

    @pytest.mark.parametrize("resource_type", sorted(NON_WORKABLE))
    def test_update_is_read_complete_with_the_new_version(self, resource_type: str) -> None:
        resource_id = NON_WORKABLE[resource_type]
        workflow = _plan(
            resource_type, resource_id, version=4, cached=_previous(resource_type, resource_id)
        )
        assert workflow.jobs == []
        assert workflow.state is not None
        assert (workflow.state.worker_state, workflow.state.version) == ("READ_COMPLETE", 4)

    @pytest.mark.parametrize("resource_type", sorted(NON_WORKABLE))
    def test_delete_completes_at_once(self, resource_type: str) -> None:
        resource_id = NON_WORKABLE[resource_type]
        workflow = _plan(
            resource_type,
            resource_id,
            version=2,
            cached=_previous(resource_type, resource_id),
            deleting=True,
        )
        assert workflow.jobs == []
        assert workflow.state is not None
        assert (workflow.state.worker_state, workflow.state.version, workflow.state.error) == (
            "DELETE_COMPLETED",
            2,
            "",
        )

    def test_the_captured_states_of_non_workable_types(self) -> None:
        captured = {
            keys.parse_state_key(s["key"]): s["value"]
            for s in scenario_steps()
            if s["key"].startswith(keys.STATE_PREFIX)
        }
        for resource_type, resource_id in NON_WORKABLE.items():
            workflow = _plan(resource_type, resource_id)
            assert workflow.state is not None
            assert strict(workflow.state.to_value()) == strict(
                captured[(resource_type, resource_id)]
            )
