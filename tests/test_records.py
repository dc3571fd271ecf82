"""Every value the original stored reads into its record and writes back unchanged."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nornir_esi.contract import keys, records
from nornir_esi.contract.records import (
    ConfigRecord,
    HeatStack,
    HeatTemplate,
    Job,
    JobEntry,
    JobState,
    Monitoring,
    Param,
    ResourceRef,
    State,
    WorkerCache,
)
from nornir_esi.exceptions import ValidationError
from tests.origin import (
    family_template_records,
    scenario_steps,
    seed_entries,
    strict,
    template_records,
)

Record = (
    type[ConfigRecord]
    | type[JobEntry]
    | type[HeatStack]
    | type[JobState]
    | type[State]
    | type[Monitoring]
    | type[WorkerCache]
)


def record_for(key: str) -> Record:
    """The record type of a key, as the contract assigns it."""
    by_prefix: list[tuple[str, Record]] = [
        (keys.CONFIG_PREFIX, ConfigRecord),
        (keys.JOBS_ALL, JobEntry),
        (keys.HEAT_STACKS_PREFIX, HeatStack),
        (keys.JOB_STATE_PREFIX, JobState),
        (keys.STATE_PREFIX, State),
        (keys.MONITORING_PREFIX, Monitoring),
        (keys.WORKER_CONFIG_PREFIX, WorkerCache),
    ]
    for prefix, record in by_prefix:
        if key.startswith(prefix):
            return record
    raise AssertionError(f"no record for {key}")


ALL_VALUES = [(f"seed {i}", key, value) for i, (key, value) in enumerate(seed_entries())] + [
    (f"{s['flow']} {s['point']}", s["key"], s["value"]) for s in scenario_steps()
]


class TestRoundTrip:
    @pytest.mark.parametrize(
        ("where", "key", "value"), ALL_VALUES, ids=[w for w, _, _ in ALL_VALUES]
    )
    def test_value_reads_and_writes_back_equal(self, where: str, key: str, value: Any) -> None:
        record = record_for(key).from_value(value)
        assert strict(record.to_value()) == strict(value)
        # The same from the text etcd holds, and back through compact text.
        assert strict(record_for(key).from_value(json.dumps(value)).to_value()) == strict(value)
        assert json.loads(record.to_json()) == value

    def test_every_record_with_a_capture_is_covered(self) -> None:
        covered = {record_for(key) for _, key, _ in ALL_VALUES}
        assert covered == {ConfigRecord, JobEntry, HeatStack, JobState, State, Monitoring}

    def test_seed_has_all_six_checkpoints(self) -> None:
        assert len(seed_entries()) == 7  # checkpoint (2) holds two jobs

    @pytest.mark.parametrize("template_id", sorted(template_records()))
    def test_template_record_reads_and_writes_back_equal(self, template_id: str) -> None:
        value = template_records()[template_id]["value"]
        record = ConfigRecord.from_value(value)
        assert strict(record.to_value()) == strict(value)
        template = HeatTemplate.from_value(record.body)
        assert strict(template.to_value()) == strict(value["body"])
        # The mapping order is the order of the params of every job planned from it.
        assert list(template.parameter_mappings) == list(value["body"]["parameter_mappings"])
        assert list(template.to_value()["parameter_mappings"]) == list(
            value["body"]["parameter_mappings"]
        )
        assert template.to_record().to_value() == value


class TestConfigRecord:
    def test_body_as_json_text_is_read_and_written_as_an_object(self) -> None:
        body = {"id": "x", "name": "n"}
        record = ConfigRecord.from_value(
            {"body": json.dumps(body), "version": 2, "marked_for_deletion": True}
        )
        assert record.body == body
        assert record.to_value() == {"body": body, "version": 2, "marked_for_deletion": True}

    def test_to_json_is_compact(self) -> None:
        text = ConfigRecord(body={"a": 1}, version=1).to_json()
        assert text == '{"body":{"a":1},"version":1,"marked_for_deletion":false}'

    @pytest.mark.parametrize(
        ("value", "field", "reason"),
        [
            ("not json", "", "is not JSON"),
            ([], "", "must be a JSON object"),
            ({"version": 1}, "body", "is missing"),
            ({"body": [], "version": 1}, "body", "must be a JSON object"),
            ({"body": "[1]", "version": 1}, "body", "must be a JSON object"),
            ({"body": {}, "version": "1"}, "version", "must be int"),
            ({"body": {}, "version": True}, "version", "must be int"),
            ({"body": {}, "version": 1, "marked_for_deletion": "no"}, "marked_for_deletion", ""),
        ],
    )
    def test_bad_shape_names_the_field(self, value: Any, field: str, reason: str) -> None:
        with pytest.raises(ValidationError) as err:
            ConfigRecord.from_value(value)
        assert err.value.obj == "config record"
        assert err.value.field == field
        assert reason in err.value.reason


class TestJobs:
    def _entry(self) -> list[Any]:
        value: list[Any] = seed_entries()[1][1]
        return value

    def test_job_fields(self) -> None:
        entry = JobEntry.from_value(self._entry())
        job = entry.job
        assert (entry.handler, entry.attempts) == ("heat_worker", 0)
        assert job.action == "create"
        assert job.is_first and not job.is_last
        assert job.dependency == []
        assert job.params[0] == Param(
            param="vrf_export_policy",
            type="value",
            value="INSTANCE-USER_OUT",
            resources=[ResourceRef("internet_service", "848e04de-733d-4f98-8971-bdb3b83e0296")],
        )

    def test_handler_of_entry_and_job_must_agree(self) -> None:
        value = self._entry()
        value[0] = "monitoring_worker"
        with pytest.raises(ValidationError, match="differs from the entry's"):
            JobEntry.from_value(value)

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"action": "destroy"}, "action"),
            ({"on_failure": "retry"}, "on_failure"),
            ({"dependency": [1]}, "dependency"),
            ({"is_last": 1}, "is_last"),
        ],
    )
    def test_bad_job_names_the_field(self, change: dict[str, Any], field: str) -> None:
        value = self._entry()
        value[1].update(change)
        with pytest.raises(ValidationError) as err:
            JobEntry.from_value(value)
        assert err.value.field == field
        assert err.value.obj.startswith("job create:heat_worker:")

    def test_bad_param_type(self) -> None:
        with pytest.raises(ValidationError, match="type is not one of"):
            Param.from_value({"param": "p", "type": "magic", "value": 1, "resources": []})

    def test_entry_must_be_a_triple(self) -> None:
        with pytest.raises(ValidationError, match=r"\[handler, \{job\}, attempts\]"):
            JobEntry.from_value(["heat_worker", {}])

    def test_job_round_trips_when_built(self) -> None:
        job = Job.from_value(self._entry()[1])
        assert Job.from_value(job.to_value()) == job


class TestResults:
    def test_state_from_the_seeds_job_state_is_the_seeds_state(self) -> None:
        entries = seed_entries()
        job_state = JobState.from_value(entries[5][1])
        state = State.from_job_state("CREATE_COMPLETED", 1, job_state)
        assert strict(state.to_value()) == strict(entries[6][1])

    def test_state_measured_is_the_state_monitoring_decoded(self) -> None:
        state = State.from_job_state(
            "CREATE_COMPLETED", 1, JobState(state_monitoring={"downlink": "ACTIVE"})
        )
        assert state.measured() == {"downlink": "ACTIVE"}
        assert State(worker_state="READ_COMPLETE", version=3).measured() is None
        with pytest.raises(ValidationError, match="state_monitoring must be a JSON object"):
            State(worker_state="CREATE_COMPLETED", state_monitoring="[]", version=1).measured()

    def test_state_of_a_non_workable_resource_has_only_worker_state(self) -> None:
        state = State(worker_state="READ_COMPLETE", version=3)
        assert state.to_value() == {
            "state": {"worker_state": "READ_COMPLETE"},
            "version": 3,
            "error": "",
        }

    def test_empty_job_state(self) -> None:
        assert JobState().to_value() == {}
        assert JobState.from_value("{}") == JobState()
        # Empty outputs stay distinguishable from none yet.
        assert JobState(heat_outputs=[]).to_value() == {"heat_outputs": []}

    def test_monitoring_keeps_every_status_field(self) -> None:
        value = {"downlink": "UP", "uplink": "DOWN", "version": 4}
        record = Monitoring.from_value(value)
        assert record.status == {"downlink": "UP", "uplink": "DOWN"}
        assert record.to_value() == value
        with pytest.raises(ValidationError, match="version is missing"):
            Monitoring.from_value({"router": "UP"})

    def test_worker_cache(self) -> None:
        value = {"body": {"id": "x"}, "deleted": False, "version": 2}
        assert WorkerCache.from_value(value).to_value() == value
        assert WorkerCache.from_value({**value, "body": '{"id": "x"}'}).to_value() == value

    def test_heat_stack_after_delete(self) -> None:
        value = {
            "stack_id": "",
            "tenant_id": "t",
            "stack_status": "DELETE_COMPLETE",
            "output": [],
            "status_reason": "Stack DELETE completed successfully",
            "id": "internet_gateway:429e24b5-a2f0-4fb8-b467-e335857e9476",
        }
        assert HeatStack.from_value(value).to_value() == value


class TestShippedTemplates:
    def test_shipped_family_records_are_the_originals(self) -> None:
        shipped = records.shipped_heat_templates()
        family = family_template_records()
        for template_id in ("public_ip", "gw_interface_internet", "static_route_internet"):
            record, origin = shipped[template_id], family[template_id]
            assert record.body["template_file"] == origin["template_file"]
            assert record.body["handler"] == origin["meta"]["handler"] == "heat_worker"
            assert strict(record.body["parameter_mappings"]) == strict(
                origin["meta"]["parameter_mappings"]
            )
        # The 2017 monitoring template: its text; its mappings written in the compact form
        # (the origin's structured paths start at "<service_type>_gw_id", which only the
        # internet service has here), with the same params.
        monitoring, origin = shipped["gw_interface_monitoring"], family["gw_interface_monitoring"]
        assert monitoring.body["template_file"] == origin["template_file"]
        assert monitoring.body["handler"] == origin["meta"]["handler"] == "monitoring_worker"
        wanted = set(origin["meta"]["parameter_mappings"])
        assert set(monitoring.body["parameter_mappings"]) >= wanted

    def test_shipped_records_are_the_originals(self) -> None:
        shipped = records.shipped_heat_templates()
        originals = template_records()
        family = {"public_ip", "gw_interface_internet", "static_route_internet"}
        assert sorted(set(shipped) - family - {"gw_interface_monitoring"}) == sorted(originals)
        for template_id, record in shipped.items():
            if template_id not in originals:
                continue
            assert strict(record.to_value()) == strict(originals[template_id]["value"])
            assert keys.heat_template(template_id) == originals[template_id]["key"]
            # Order matters (params follow it); JSON equality alone would not see it.
            assert list(record.body["parameter_mappings"]) == list(
                originals[template_id]["value"]["body"]["parameter_mappings"]
            )
