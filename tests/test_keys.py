"""The keys the original wrote are the keys ``keys.py`` spells."""

from __future__ import annotations

import re

import pytest

from nornir_esi.contract import keys
from nornir_esi.exceptions import ValidationError
from tests.origin import scenario_steps, seed_entries

GW = "429e24b5-a2f0-4fb8-b467-e335857e9476"


def _builder_keys(resource_type: str, resource_id: str) -> set[str]:
    return {
        keys.config(resource_type, resource_id),
        keys.heat_stack(resource_type, resource_id),
        keys.job_state(resource_type, resource_id),
        keys.state(resource_type, resource_id),
        keys.monitoring(resource_type, resource_id),
    }


class TestResourceKeys:
    def test_every_captured_key_is_built_by_keys(self) -> None:
        captured = {s["key"] for s in scenario_steps()} | {k for k, _ in seed_entries()}
        for key in captured:
            job = keys.job_id_of(key)
            if job is not None:
                assert keys.job_all(job) == key
                continue
            plural, resource_id = key.rsplit("/", 2)[-2:]
            assert key in _builder_keys(keys.singular(plural), resource_id)

    def test_spelling(self) -> None:
        assert keys.config("internet_gateway", GW) == f"/config/v2.0/internet_gateways/{GW}"
        assert keys.worker_config("ha_router", "x") == "/esi-worker/config/v2.0/ha_routers/x"
        assert keys.heat_template("internet_gateway") == (
            "/config/v2.0/heat_templates/internet_gateway"
        )
        assert keys.JOB_MANAGER_ID == "/job_manager_id"
        for prefix in (
            keys.CONFIG_PREFIX,
            keys.HEAT_TEMPLATES_PREFIX,
            keys.JOBS_ALL,
            keys.JOBS_READY,
            keys.JOBS_WAITING,
            keys.JOBS_WORKING,
            keys.JOBS_FINISHED,
        ):
            assert prefix.endswith("/")

    def test_plural_and_singular(self) -> None:
        assert keys.plural("er_physical_interface") == "er_physical_interfaces"
        assert keys.singular("qos_options") == "qos_option"
        with pytest.raises(ValidationError, match="is not a known resource type"):
            keys.plural("router")
        with pytest.raises(ValidationError):
            keys.singular("heat_templates")

    @pytest.mark.parametrize(
        ("key", "parsed"),
        [
            (f"/config/v2.0/internet_gateways/{GW}", ("internet_gateway", GW)),
            ("/config/v2.0/heat_templates/internet_gateway", None),
            ("/config/v2.0/routers/x", None),
            ("/config/v2.0/internet_gateways/", None),
            ("/config/v2.0/internet_gateways/a/b", None),
            (f"/state/v2.0/internet_gateways/{GW}", None),
        ],
    )
    def test_parse_config_key(self, key: str, parsed: tuple[str, str] | None) -> None:
        assert keys.parse_config_key(key) == parsed

    @pytest.mark.parametrize("bad_id", ["", "a/b"])
    def test_id_that_would_address_another_key_is_refused(self, bad_id: str) -> None:
        with pytest.raises(ValidationError):
            keys.config("edge_router", bad_id)


class TestJobIds:
    def test_captured_job_ids_parse_and_rebuild(self) -> None:
        ids = [keys.job_id_of(s["key"]) for s in scenario_steps()]
        for job_id in filter(None, ids):
            parts = keys.parse_job_id(job_id)
            assert keys.job_id(*parts) == job_id
        parts = keys.parse_job_id(f"create:heat_worker:internet_gateway:{GW}:1:gt36x")
        assert parts == keys.JobId("create", "heat_worker", "internet_gateway", GW, 1, "gt36x")

    def test_new_job_id_has_a_random_suffix(self) -> None:
        job_id = keys.job_id("modify", "heat_worker", "internet_gateway", GW, 2)
        assert re.fullmatch(rf"modify:heat_worker:internet_gateway:{GW}:2:[a-z0-9]{{5}}", job_id)
        suffixes = {keys.parse_job_id(keys.job_id("create", "h", "ha_router", "x", 1)).suffix}
        suffixes |= {keys.parse_job_id(keys.job_id("create", "h", "ha_router", "x", 1)).suffix}
        assert len(suffixes) == 2  # 36**5 values: a collision here is a broken generator

    def test_job_name(self) -> None:
        assert keys.job_name("internet_gateway", GW, 1) == f"internet_gateway:{GW}:1"

    @pytest.mark.parametrize(
        ("job_id", "field"),
        [
            ("create:heat_worker:internet_gateway:x:1", "id"),
            ("build:heat_worker:internet_gateway:x:1:abcde", "action"),
            ("create:heat_worker:internet_gateway:x:one:abcde", "version"),
            ("create:heat_worker:internet_gateway:x:0:abcde", "version"),
            ("create:heat_worker:internet_gateway:x:1:ABCDE", "suffix"),
            ("create::internet_gateway:x:1:abcde", "handler"),
            ("create:heat_worker:gateway:x:1:abcde", ""),
        ],
    )
    def test_bad_job_id(self, job_id: str, field: str) -> None:
        with pytest.raises(ValidationError) as err:
            keys.parse_job_id(job_id)
        assert err.value.field == field

    def test_job_id_of(self) -> None:
        for build in (
            keys.job_all,
            keys.job_ready,
            keys.job_waiting,
            keys.job_working,
            keys.job_finished,
        ):
            assert keys.job_id_of(build("a:b")) == "a:b"
        assert keys.job_id_of("/jobs/all/") is None
        assert keys.job_id_of("/job_manager_id") is None
        assert keys.job_id_of(f"/config/v2.0/internet_gateways/{GW}") is None
