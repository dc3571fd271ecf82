"""The field table: what the dataclass fields of a record say is what is read and written."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import pytest

from nornir_esi.contract.records import (
    Applied,
    AuditJob,
    AuditRequest,
    AuditRouter,
    AuditStack,
    ConfigRecord,
    HeatStack,
    HeatTemplate,
    Job,
    JobState,
    Param,
    ResourceRef,
    State,
    WorkerCache,
)
from nornir_esi.exceptions import ValidationError


def _job() -> Job:
    return Job(
        id="j1",
        action="create",
        handler="heat_worker",
        resource_type="internet_gateway",
        resource_id="g1",
        version=1,
        job_name="create:heat_worker:internet_gateway",
        is_first=True,
        is_last=False,
        on_failure="fail",
        dependency=["j0"],
        resource_input={"name": "gw"},
        params=[Param("vlan", "value", None, [ResourceRef("internet_gateway", "g1")])],
    )


SAMPLES: list[Any] = [
    ConfigRecord(body={"id": "x"}, version=3, marked_for_deletion=True),
    HeatTemplate("heat_worker", [], "t1", "t1.yaml", {"a": {"type": "value"}}),
    WorkerCache(body={"id": "x"}, deleted=False, version=2),
    _job(),
    HeatStack("internet_gateway_g1", "t", "CREATE_COMPLETE", [], "", "internet_gateway:g1"),
    Applied(version=1, params={"vlan": 1025}),
    AuditRequest("api", "alice", "r1", "created", "2026-01-01T00:00:00.000+00:00"),
    AuditJob("heat_worker", "create", "w1", 1, "finished", "", "s", "e", planned="p"),
]


@pytest.mark.parametrize("record", SAMPLES, ids=lambda r: type(r).__name__)
def test_keys_are_written_in_the_order_of_the_fields(record: Any) -> None:
    assert list(record.to_value()) == [f.name for f in fields(record)]
    assert type(record).from_value(record.to_json()) == record


def test_a_null_value_is_kept_but_an_absent_optional_is_left_out() -> None:
    param = Param.from_value({"param": "p", "type": "value", "value": None, "resources": []})
    assert param.to_value()["value"] is None
    assert JobState().to_value() == {}
    assert JobState(heat_outputs=[]).to_value() == {"heat_outputs": []}


def test_fields_inside_an_inner_object_are_read_and_written_there() -> None:
    state = State(worker_state="CREATE_COMPLETED", heat_outputs="[]", version=4)
    value = state.to_value()
    assert value == {
        "state": {"worker_state": "CREATE_COMPLETED", "heat_outputs": "[]"},
        "version": 4,
        "error": "",
    }
    assert State.from_value(value) == state
    with pytest.raises(ValidationError) as err:
        State.from_value({"version": 4, "error": ""})
    assert (err.value.obj, err.value.field, err.value.reason) == ("state", "state", "is missing")
    with pytest.raises(ValidationError) as err:
        State.from_value({"state": {}, "version": 4, "error": ""})
    assert err.value.field == "worker_state"


def test_a_record_named_by_a_field_says_its_name_in_errors() -> None:
    value = _job().to_value()
    value["version"] = "1"
    with pytest.raises(ValidationError) as err:
        Job.from_value(value)
    assert (err.value.obj, err.value.field) == ("job j1", "version")
    assert err.value.reason == "must be int, not str"


def test_list_items_are_checked_and_records_in_lists_are_read() -> None:
    value = _job().to_value()
    value["dependency"] = ["j0", 7]
    with pytest.raises(ValidationError, match="job j1: dependency must be str, not int"):
        Job.from_value(value)
    value = _job().to_value()
    value["params"][0]["resources"] = [{"resource_type": "x"}]
    with pytest.raises(ValidationError, match="resource reference: resource_id is missing"):
        Job.from_value(value)


def test_a_field_with_its_own_reader_and_writer() -> None:
    stack = AuditStack("s", "CREATE_COMPLETE", "", (AuditRouter("primary", "r1", "vMX-1"),))
    value = stack.to_value()
    assert value["routers"] == {"primary": {"id": "r1", "name": "vMX-1"}}
    assert AuditStack.from_value(value) == stack
    assert "routers" not in AuditStack("s", "DELETE_COMPLETE", "").to_value()
    value["routers"]["primary"]["name"] = 1
    with pytest.raises(ValidationError, match=r"routers\.primary\.name must be str, not int"):
        AuditStack.from_value(value)


def test_choices_name_the_field() -> None:
    value = _job().to_value()
    value["on_failure"] = "retry"
    with pytest.raises(ValidationError, match="on_failure is not one of fail, ignore"):
        Job.from_value(value)
    audit = AuditJob.planned_at("heat_worker", "create", "p").to_value()
    audit["outcome"] = "lost"
    with pytest.raises(ValidationError, match="outcome 'lost' is not one of planned"):
        AuditJob.from_value(audit)
