"""Secret references: resolved from the environment, files or a registered provider; errors
name the object, the field and the reference, never the secret; resources, mappings and
records carry references, never passwords."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nornir_esi.contract import mapping, secrets
from nornir_esi.contract.records import Param
from nornir_esi.contract.resources import secret_fields, validate
from nornir_esi.exceptions import SecretError, ValidationError
from tests.origin import Graph, config_bodies, template_records

SECRET = "s3cret-value"
ER1 = "9b82b55a-551e-4069-ae77-c972e30ab0cc"
ER2 = "198b93f2-006e-45b6-96d3-e7ef6f759501"
GW = "429e24b5-a2f0-4fb8-b467-e335857e9476"


@pytest.fixture
def vault() -> Iterator[dict[str, str]]:
    """A provider registered for the test: ``vault:<path>`` from a dict."""
    store = {"esi/mx": SECRET}

    def resolve(path: str) -> str:
        if path not in store:
            raise LookupError(f"vault has no {path}")
        return store[path]

    secrets.register("vault", resolve, check=lambda p: None if "/" in p else "needs a path")
    try:
        yield store
    finally:
        secrets.unregister("vault")


class TestResolve:
    def test_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("MX_PASSWORD", SECRET)
        assert secrets.resolve({"ref": "env:MX_PASSWORD"}, "edge_router x", "password") == SECRET

    def test_unset_env_names_object_field_and_reference(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("MX_PASSWORD", raising=False)
        with pytest.raises(SecretError) as caught:
            secrets.resolve({"ref": "env:MX_PASSWORD"}, "edge_router x", "password")
        assert str(caught.value) == (
            'edge_router x: password {"ref": "env:MX_PASSWORD"}: '
            "environment variable MX_PASSWORD is not set"
        )
        assert (caught.value.obj, caught.value.field) == ("edge_router x", "password")

    def test_file_without_its_trailing_newline(self, tmp_path: Path) -> None:
        path = tmp_path / "mx"
        path.write_text(SECRET + "\n")
        assert secrets.resolve({"ref": f"file:{path}"}, "r", "password") == SECRET

    def test_relative_file_under_the_secrets_dir(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        (tmp_path / "mx").write_text(SECRET + "\r\n")
        monkeypatch.setenv(secrets.SECRETS_DIR_ENV, str(tmp_path))
        assert secrets.resolve({"ref": "file:mx"}, "r", "password") == SECRET

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(SecretError, match=r"file:.*/absent.*cannot be read"):
            secrets.resolve({"ref": f"file:{tmp_path / 'absent'}"}, "r", "password")

    def test_empty_secret_is_refused(self, tmp_path: Path) -> None:
        (tmp_path / "empty").write_text("\n")
        with pytest.raises(SecretError, match="the secret is empty"):
            secrets.resolve({"ref": f"file:{tmp_path / 'empty'}"}, "r", "password")

    def test_unknown_scheme(self) -> None:
        with pytest.raises(SecretError, match="unknown scheme 'vault' \\(known: env, file\\)"):
            secrets.resolve({"ref": "vault:esi/mx"}, "r", "password")

    def test_a_plain_string_is_the_originals_data(self) -> None:
        assert secrets.resolve("esiesi0000", "r", "password") == "esiesi0000"

    def test_the_secret_is_never_in_an_error(self, vault: dict[str, str]) -> None:
        with pytest.raises(SecretError) as caught:
            secrets.resolve({"ref": "vault:esi/other"}, "r", "password")
        assert SECRET not in str(caught.value)
        assert "vault has no esi/other" in str(caught.value)


class TestRegistry:
    def test_a_registered_provider_resolves(self, vault: dict[str, str]) -> None:
        assert secrets.resolve({"ref": "vault:esi/mx"}, "r", "password") == SECRET
        assert "vault" in secrets.schemes()

    def test_its_check_runs_at_the_front_door(self, vault: dict[str, str]) -> None:
        assert secrets.check_reference({"ref": "vault:esi/mx"}) is None
        assert secrets.check_reference({"ref": "vault:flat"}) == (
            '{"ref": "vault:flat"}: needs a path'
        )

    def test_unregistered_it_is_unknown(self) -> None:
        assert "vault" not in secrets.schemes()

    def test_scheme_names_are_checked(self) -> None:
        with pytest.raises(ValueError, match="is not a scheme name"):
            secrets.register("Vault!", str)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"ref": "env:A", "x": 1}, "a reference has exactly one key, 'ref'"),
        ({"ref": 5}, "'ref' must be a string"),
        ({"ref": "env"}, "is not <scheme>:<name>"),
        ({"ref": "env:"}, "is not <scheme>:<name>"),
        ({"ref": "env:1BAD"}, "'1BAD' is not an environment variable name"),
        ({"ref": "nope:x"}, "unknown scheme 'nope'"),
        (["env:A"], "must be a reference"),
    ],
)
def test_malformed_references(value: Any, reason: str) -> None:
    found = secrets.check_reference(value)
    assert found is not None and reason in found


def test_is_reference() -> None:
    assert secrets.is_reference({"ref": "env:A"})
    assert not secrets.is_reference("env:A")
    assert not secrets.is_reference({"ref": "env:A", "more": 1})


def test_the_compatibility_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(secrets.PLAINTEXT_ENV, raising=False)
    assert not secrets.plaintext_allowed()
    monkeypatch.setenv(secrets.PLAINTEXT_ENV, "1")
    assert secrets.plaintext_allowed()
    assert not secrets.plaintext_allowed(False)
    monkeypatch.setenv(secrets.PLAINTEXT_ENV, "0")
    assert not secrets.plaintext_allowed()
    assert secrets.plaintext_allowed(True)


# --- resources, mappings, records -------------------------------------------------------


@pytest.fixture
def graph() -> Graph:
    """The origin's graph with the routers' passwords as references."""
    bodies = copy.deepcopy(config_bodies())
    for rid in (ER1, ER2):
        bodies[("edge_router", rid)]["password"] = {"ref": "env:ESI_ROUTER_PASSWORD"}
    return Graph(bodies)


def test_the_password_is_the_one_secret_field() -> None:
    assert secret_fields("edge_router") == ["password"]
    assert secret_fields("internet_gateway") == []


def test_a_router_with_a_reference_is_valid(graph: Graph) -> None:
    body = graph.bodies[("edge_router", ER1)]
    assert validate("edge_router", body, graph)["password"] == {"ref": "env:ESI_ROUTER_PASSWORD"}


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ({"ref": "vault:x"}, "unknown scheme 'vault'"),
        ({"ref": "env:A", "value": "x"}, "exactly one key"),
        ("", "must not be empty"),
        (12, 'must be a reference {"ref": "<scheme>:<name>"} or a string, not integer'),
    ],
)
def test_a_bad_password_is_refused(graph: Graph, password: Any, reason: str) -> None:
    body = dict(graph.bodies[("edge_router", ER1)], password=password)
    with pytest.raises(ValidationError) as caught:
        validate("edge_router", body, graph)
    assert caught.value.field == "password"
    assert reason in caught.value.reason


def test_params_from_a_reference_are_secrets(graph: Graph) -> None:
    for template_id, names in (
        ("internet_gateway", ["primary_device_password", "secondary_device_password"]),
        ("internet_gateway_monitoring", ["password"]),
    ):
        mappings = template_records()[template_id]["value"]["body"]["parameter_mappings"]
        params = mapping.evaluate(
            mappings, "internet_gateway", graph.bodies[("internet_gateway", GW)], graph
        )
        secret = [p for p in params if p.type == "secret"]
        assert sorted(p.param for p in secret) == sorted(names), template_id
        for p in secret:
            assert p.value == {"ref": "env:ESI_ROUTER_PASSWORD"}
            assert p.resources[-1].resource_type == "edge_router"  # provenance kept
        assert all(p.type == "value" for p in params if p not in secret)


def test_a_plain_password_param_stays_a_value_as_the_originals() -> None:
    graph = Graph(copy.deepcopy(config_bodies()))
    mappings = template_records()["internet_gateway"]["value"]["body"]["parameter_mappings"]
    params = mapping.evaluate(
        mappings, "internet_gateway", graph.bodies[("internet_gateway", GW)], graph
    )
    (password,) = [p for p in params if p.param == "primary_device_password"]
    assert (password.type, password.value) == ("value", "esiesi0000")


def test_a_secret_param_round_trips() -> None:
    value = {
        "param": "password",
        "type": "secret",
        "value": {"ref": "env:ESI_ROUTER_PASSWORD"},
        "resources": [{"resource_type": "edge_router", "resource_id": ER1}],
    }
    assert Param.from_value(value).to_value() == value


def test_a_secret_param_holds_only_a_reference() -> None:
    with pytest.raises(ValidationError, match="param password: value of a secret must be"):
        Param.from_value({"param": "password", "type": "secret", "value": "x", "resources": []})
