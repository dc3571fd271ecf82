"""Render, push, read back and delete the seed's gateway on the simulated pair via Nornir."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from lxml import etree
from nornir.core import Nornir
from nornir.core.task import AggregatedResult, Result, Task
from nornir_netconf.plugins.tasks import netconf_rpc

from nornir_esi.device.inventory import ResourceInventory, load_overrides, nornir_for
from nornir_esi.exceptions import DeviceError, DeviceRejectedError, ValidationError
from nornir_esi.junos import tree
from nornir_esi.junos.text import parse_text
from nornir_esi.netsim.device import Router
from nornir_esi.netsim.sample import VRF, gateway_set
from nornir_esi.netsim.server import Simulator
from nornir_esi.services.internet_gateway.render import (
    gateway_prune_policies,
    params_by_name,
    render_gateway,
    render_vrf_config,
)
from nornir_esi.tasks import collect_state, push_config
from tests.tasks.conftest import PRIMARY, ROUTERS, SECONDARY, SIM_NAME, write_overrides

T = TypeVar("T")
ORIGIN = Path(__file__).parent.parent / "fixtures" / "origin-junos-diff.txt"

# The seed gateway's job params, in the job's wire shape.
SEED_PARAMS: dict[str, Any] = {
    "vrf_export_policy": "INSTANCE-USER_OUT",
    "secondary_device_physical_interface": "ae0",
    "primary_device_logical_interface": "ae0.1025",
    "primary_device_password": "esiesi0000",
    "vrf_import_policy": "INSTANCE-USER_IN",
    "prefix_list_name": f"{VRF}_prefix",
    "jinja_vrf_config": "",
    "output_filter_name": "FILTER_10M-GA-DOWN-INET",
    "secondary_vrrp_config_group": "InetGW2-VRRP",
    "primary_device_ip": "10.79.5.185",
    "inet_in_filter": "INET_IN",
    "primary_device_username": "esi",
    "secondary_device_logical_interface": "ae0.1025",
    "inet_out_filter": "INET_OUT",
    "vlan": "1025",
    "primary_device_physical_interface": "ae0",
    "uplink_import_policy": "INSTANCE-MASTER_IN",
    "input_filter_name": "FILTER_10M-GA-UP-INET",
    "filter_term_name": f"{VRF}_filter",
    "secondary_device_port": 830,
    "secondary_device_password": "esiesi0000",
    "heat_timeout": "60",
    "vrf_name": VRF,
    "primary_vrrp_config_group": "InetGW1-VRRP",
    "secondary_device_username": "esi",
    "primary_device_port": 830,
    "secondary_device_ip": "10.79.5.184",
}
JOB_PARAMS = [
    {"param": name, "type": "string", "value": value, "resources": []}
    for name, value in SEED_PARAMS.items()
]
PARAMS = params_by_name(JOB_PARAMS)
ROLE = {PRIMARY["name"]: "primary", SECONDARY["name"]: "secondary"}
COUNTERS = [("INET_IN", f"{VRF}_IN"), ("INET_OUT", f"{VRF}_OUT")]
COMMENT = "internet_gateway 429e24b5 create"


# -- helpers -------------------------------------------------------------------------------


def _collapse(lines: list[str]) -> list[str]:
    return [re.sub(r" +", " ", line).rstrip() for line in lines]


def _origin(section: str) -> list[str]:
    text = ORIGIN.read_text().split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    while lines and lines[-1] in ("", "[edit]"):
        lines.pop()
    return lines


def _diff_lines(diff: str) -> list[str]:
    lines = diff.splitlines()
    while lines and lines[-1] in ("", "[edit]"):
        lines.pop()
    return _collapse(lines)


def _push(task: Task, *, action: str, **kwargs: Any) -> Result:
    role = ROLE[task.host.name]
    return push_config(
        task,
        commands=render_gateway(PARAMS, role, action=action),
        text=render_vrf_config(PARAMS) if action == "create" else "",
        prune_policies=gateway_prune_policies(PARAMS) if action == "delete" else (),
        comment=kwargs.pop("comment", f"internet_gateway 429e24b5 {action}"),
        **kwargs,
    )


def _ok(results: AggregatedResult) -> dict[str, Result]:
    assert set(results) == set(SIM_NAME)
    out = {}
    for name, multi in results.items():
        assert not multi.failed, f"{name}: {multi[0].exception!r}"
        out[name] = multi[0]
    return out


def _on(sim: Simulator, router: str, read: Callable[[Router], T]) -> T:
    """Read a simulated router's state on the simulator's loop (``router``: MX-1/MX-2)."""
    device = sim.router(router)
    return sim.call(lambda: read(device))


def _running(sim: Simulator, name: str) -> bytes:
    return sim.call(lambda: tree.canonical_bytes(sim.router(SIM_NAME[name]).running))


def _day0(sim: Simulator, name: str) -> bytes:
    """The router's configuration right after reset (day-0 plus what the simulator adds)."""
    router = sim.router(SIM_NAME[name])
    return sim.call(lambda: tree.canonical_bytes(router.rollback_config(len(router.history) - 1)))


def _unlocked(sim: Simulator) -> None:
    for name in ("MX-1", "MX-2"):
        assert _on(sim, name, lambda r: r.lock_owner) is None, f"{name} left locked"
        modified = _on(sim, name, lambda r: r.candidate_modified())
        assert not modified, f"{name} left a modified candidate"


# -- rendering -------------------------------------------------------------------------------


def test_secondary_rendering_is_the_sample_gateway() -> None:
    got = render_gateway(PARAMS, "secondary", action="create")
    want = gateway_set("InetGW2-VRRP")
    assert set(got.splitlines()) == set(want.splitlines())
    inserts = [line for line in got.splitlines() if line.startswith("insert")]
    assert inserts == [line for line in want.splitlines() if line.startswith("insert")]
    # Each insert follows the set lines of its own term.
    lines = got.splitlines()
    for insert in inserts:
        term = insert.removeprefix("insert ").removesuffix(" before term all-accept")
        assert max(i for i, line in enumerate(lines) if line.startswith(f"set {term} ")) < (
            lines.index(insert)
        )


def test_primary_rendering_differs_only_by_vrrp_group() -> None:
    got = render_gateway(PARAMS, "primary", action="create")
    assert got == gateway_set("InetGW1-VRRP")


def test_missing_param_is_named() -> None:
    params = dict(PARAMS)
    del params["inet_out_filter"]
    with pytest.raises(ValidationError, match="inet_out_filter is missing"):
        render_gateway(params, "primary", action="create")
    del params["secondary_vrrp_config_group"]
    with pytest.raises(ValidationError, match="secondary_vrrp_config_group is missing"):
        render_gateway(params, "secondary", action="delete") + render_gateway(
            params, "secondary", action="create"
        )


def test_values_are_quoted_and_line_breaks_refused() -> None:
    params = {**PARAMS, "vrf_import_policy": 'IMPORT "x" ; y'}
    got = render_gateway(params, "primary", action="create")
    assert 'instance-import "IMPORT \\"x\\" ; y"' in got
    with pytest.raises(ValidationError, match=r"vrf_export_policy .* line break"):
        render_gateway(
            {**PARAMS, "vrf_export_policy": "X\nset system root-authentication"},
            "primary",
            action="create",
        )


def test_bad_role_unit_and_vlan() -> None:
    with pytest.raises(ValidationError, match="role"):
        render_gateway(PARAMS, "tertiary", action="create")
    with pytest.raises(ValidationError, match="primary_device_logical_interface"):
        render_gateway(
            {**PARAMS, "primary_device_logical_interface": "ae1.1025"}, "primary", action="create"
        )
    with pytest.raises(ValidationError, match="vlan"):
        render_gateway({**PARAMS, "vlan": "5000"}, "primary", action="create")


def test_vrf_config_wraps_into_the_instance_and_must_balance() -> None:
    assert render_vrf_config(PARAMS) == ""
    text = "routing-options {\n    static {\n        route 0.0.0.0/0 discard;\n    }\n}"
    got = render_vrf_config({**PARAMS, "jinja_vrf_config": text})
    parsed = parse_text(got)
    assert parsed.findtext(f"routing-instances/instance[name='{VRF}']/name") == VRF
    with pytest.raises(ValidationError, match="jinja_vrf_config"):
        render_vrf_config({**PARAMS, "jinja_vrf_config": "} system { host-name x; "})
    with pytest.raises(ValidationError, match="jinja_vrf_config"):
        render_vrf_config({**PARAMS, "jinja_vrf_config": "a {"})


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("} system { host-name x; ", "closes a brace it did not open"),
        ("a { b;", "leaves a brace open"),
        ('a { description "}', "has an unterminated string"),
        ("a { /* } ", "has an unterminated comment"),
    ],
)
def test_vrf_config_braces_are_read_as_the_parser_reads_them(text: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=f"jinja_vrf_config.*{problem}"):
        render_vrf_config({**PARAMS, "jinja_vrf_config": text})
    # Braces in strings and comments do not count.
    quiet = 'a { description "} {"; /* } */ # }\n}'
    assert render_vrf_config({**PARAMS, "jinja_vrf_config": quiet})


# -- inventory -------------------------------------------------------------------------------


def test_inventory_hosts_from_edge_routers(tmp_path: Path) -> None:
    overrides = tmp_path / "o.yaml"
    overrides.write_text(
        "10.79.5.185: {hostname: 127.0.0.1, port: 1830}\n"
        "vMX-router-01: {hostname: 127.0.0.2, port: 2830, username: lab, password: pw}\n"
    )
    inventory = ResourceInventory(ROUTERS, str(overrides)).load()
    primary = inventory.hosts["vMX-router-02"]
    assert (primary.hostname, primary.port, primary.username, primary.password) == (
        "127.0.0.1",
        1830,
        "esi",
        "esiesi0000",
    )
    assert primary.platform == "junos"
    assert primary.data == {"id": PRIMARY["id"], "ip": "10.79.5.185"}
    params = primary.get_connection_parameters("netconf")
    assert params.hostname == "127.0.0.1" and params.port == 1830
    # No key recorded for 127.0.0.1:1830 in the session's known_hosts: verified all the
    # same, against no key, so connecting fails (tests/flow/test_host_keys.py).
    assert params.extras == {
        "hostkey_verify": True,
        "allow_agent": False,
        "look_for_keys": False,
        "device_params": {"name": "junos"},
    }
    secondary = inventory.hosts["vMX-router-01"]
    assert (secondary.hostname, secondary.port, secondary.username) == ("127.0.0.2", 2830, "lab")
    plain = ResourceInventory(ROUTERS).load().hosts["vMX-router-01"]
    assert (plain.hostname, plain.port) == ("10.79.5.184", 830)


def test_the_overrides_file_is_read_again_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "overrides.yaml"
    path.write_text("10.79.5.185: {hostname: 127.0.0.1, port: 40001}\n")
    first = load_overrides(path)
    assert first == {"10.79.5.185": {"hostname": "127.0.0.1", "port": 40001}}
    first["10.79.5.185"]["port"] = 1  # a caller's copy: the next read is not affected
    # Same size, new text (a simulator restarted on other ports).
    path.write_text("10.79.5.185: {hostname: 127.0.0.1, port: 40002}\n")
    assert load_overrides(path) == {"10.79.5.185": {"hostname": "127.0.0.1", "port": 40002}}
    path.write_text("10.79.5.185: {hostname: 127.0.0.1, port: 40001}\n")
    assert load_overrides(path) == {"10.79.5.185": {"hostname": "127.0.0.1", "port": 40001}}


def test_inventory_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="login is missing"):
        ResourceInventory([{**PRIMARY, "login": ""}]).load()
    bad = tmp_path / "bad.yaml"
    bad.write_text("10.79.5.185: {hostname: x, colour: red}\n")
    with pytest.raises(ValidationError, match="unknown fields"):
        ResourceInventory(ROUTERS, str(bad))


def test_plugin_is_registered_for_init_nornir(routers: Simulator, tmp_path: Path) -> None:
    from nornir import InitNornir

    nornir = InitNornir(
        inventory={
            "plugin": "ResourceInventory",
            "options": {
                "routers": ROUTERS,
                "overrides": str(write_overrides(routers, tmp_path / "o.yaml")),
            },
        },
        logging={"enabled": False},
    )
    assert sorted(nornir.inventory.hosts) == ["vMX-router-01", "vMX-router-02"]


# -- push and state --------------------------------------------------------------------------


def test_create_commits_the_origin_diff_then_nothing(routers: Simulator, nr: Nornir) -> None:
    before = _ok(nr.run(task=collect_state, interfaces=["ae0", "ae0.1025"], counters=COUNTERS))
    for result in before.values():
        assert result.changed is False
        assert result.result["interfaces"] == {"ae0": "up", "ae0.1025": "absent"}
        assert result.result["counters"] == {f"{f}/{c}": None for f, c in COUNTERS}

    created = _ok(nr.run(task=_push, action="create", comment=COMMENT))
    for name, result in created.items():
        assert result.changed is True
        assert result.diff == result.result
        section = SIM_NAME[name]
        assert _diff_lines(result.diff) == _collapse(_origin(section)), name
        record = _on(routers, section, lambda r: r.history[0])
        assert record.comment == COMMENT
        assert record.confirmed is False
        running = _on(routers, section, lambda r: r.running)
        group = running.findtext("interfaces/interface[name='ae0']/unit[name='1025']/apply-groups")
        assert group == ("InetGW1-VRRP" if ROLE[name] == "primary" else "InetGW2-VRRP")
    _unlocked(routers)
    # The comment is in the commit log as the router reports it (show system commit).
    log = _ok(nr.run(task=netconf_rpc, payload="<get-commit-information/>"))
    for result in log.values():
        reply = etree.fromstring(str(result.result.rpc).encode())
        assert reply.findtext(".//{*}commit-history/{*}log") == COMMENT

    after = _ok(nr.run(task=collect_state, interfaces=["ae0", "ae0.1025"], counters=COUNTERS))
    for result in after.values():
        assert result.result["interfaces"] == {"ae0": "up", "ae0.1025": "up"}
        for counter in result.result["counters"].values():
            assert counter is not None and set(counter) == {"packets", "bytes"}

    again = _ok(nr.run(task=_push, action="create"))
    for result in again.values():
        assert result.changed is False
        assert result.result == "" and result.diff == ""
    assert all(len(_on(routers, n, lambda r: r.history)) == 2 for n in ("MX-1", "MX-2"))
    _unlocked(routers)


def test_dry_run_shows_the_diff_and_changes_nothing(routers: Simulator, nr: Nornir) -> None:
    results = _ok(nr.run(task=_push, action="create", dry_run=True))
    for name, result in results.items():
        assert _diff_lines(result.diff) == _collapse(_origin(SIM_NAME[name]))
        assert result.changed is True  # what would change
        assert _running(routers, name) == _day0(routers, name)
    _unlocked(routers)


def test_confirmed_commit_is_recorded(routers: Simulator, nr: Nornir) -> None:
    _ok(nr.run(task=_push, action="create", confirm_minutes=5))
    for name in SIM_NAME.values():
        assert _on(routers, name, lambda r: r.history[0].confirmed) is True
    # A plain commit (here: the delete) confirms it.
    _ok(nr.run(task=_push, action="delete"))
    for name in SIM_NAME.values():
        assert _on(routers, name, lambda r: r.confirm_pending) is False


def test_delete_restores_day0(routers: Simulator, nr: Nornir) -> None:
    _ok(nr.run(task=_push, action="create"))
    deleted = _ok(nr.run(task=_push, action="delete"))
    for name, result in deleted.items():
        assert result.changed is True
        assert _running(routers, name) == _day0(routers, name), name
        assert all(
            line.startswith(("[edit", "-", " ")) or not line for line in result.diff.splitlines()
        )
    state = _ok(nr.run(task=collect_state, interfaces=["ae0.1025"], counters=COUNTERS))
    for result in state.values():
        assert result.result["interfaces"] == {"ae0.1025": "absent"}
        assert set(result.result["counters"].values()) == {None}
    # Deleting again finds nothing to do.
    for result in _ok(nr.run(task=_push, action="delete")).values():
        assert result.changed is False
    _unlocked(routers)


def test_delete_keeps_a_policy_other_gateways_still_use(routers: Simulator, nr: Nornir) -> None:
    other = {
        **PARAMS,
        "vrf_name": "vrf_other_1026",
        "vlan": "1026",
        "primary_device_logical_interface": "ae0.1026",
        "secondary_device_logical_interface": "ae0.1026",
        "prefix_list_name": "vrf_other_1026_prefix",
        "filter_term_name": "vrf_other_1026_filter",
    }

    def push_other(task: Task) -> Result:
        return push_config(
            task,
            commands=render_gateway(other, ROLE[task.host.name], action="create"),
            comment="other gateway",
        )

    _ok(nr.run(task=_push, action="create"))
    _ok(nr.run(task=push_other))
    _ok(nr.run(task=_push, action="delete"))
    for name in SIM_NAME.values():
        running = _on(routers, name, lambda r: r.running)
        terms = running.xpath(
            "policy-options/policy-statement[name='INSTANCE-MASTER_IN']/term/name/text()"
        )
        assert terms == ["vrf_other_1026"]
        filter_terms = running.xpath("firewall/family/inet/filter[name='INET_IN']/term/name/text()")
        assert filter_terms == ["vrf_other_1026_filter", "all-accept"]
        assert running.find(f"routing-instances/instance[name='{VRF}']") is None


def test_vrf_config_is_committed_with_the_gateway(routers: Simulator, nr: Nornir) -> None:
    extra = "routing-options {\n    static {\n        route 0.0.0.0/0 discard;\n    }\n}"
    params = {**PARAMS, "jinja_vrf_config": extra}

    def push(task: Task) -> Result:
        return push_config(
            task,
            commands=render_gateway(params, ROLE[task.host.name], action="create"),
            text=render_vrf_config(params),
            comment="with vrf_config",
        )

    for result in _ok(nr.run(task=push)).values():
        assert "+   vrf_gw_sample-ha-router-downlink_1025 {" in result.diff
    for name in SIM_NAME.values():
        running = _on(routers, name, lambda r: r.running)
        instance = running.find(f"routing-instances/instance[name='{VRF}']")
        assert instance is not None
        assert instance.findtext("instance-type") == "virtual-router"
        route = instance.find("routing-options/static/route[name='0.0.0.0/0']")
        assert route is not None and route.find("discard") is not None
    _ok(nr.run(task=_push, action="delete"))
    for name in SIM_NAME:
        assert _running(routers, name) == _day0(routers, name)


def test_failed_commit_raises_and_leaves_no_lock(routers: Simulator, nr: Nornir) -> None:
    routers.set_faults("MX-1", fail_commits=1)
    results = nr.run(task=_push, action="create")
    failed = results["vMX-router-01"]
    assert failed.failed
    exc = failed[0].exception
    assert isinstance(exc, DeviceRejectedError) and isinstance(exc, DeviceError)
    assert exc.host == "vMX-router-01" and exc.step == "commit"
    assert "vMX-router-01" in str(exc) and "commit" in str(exc)
    assert _running(routers, "vMX-router-01") == _day0(routers, "vMX-router-01")
    assert not results["vMX-router-02"].failed
    _unlocked(routers)
    # The host's session is still usable: the retry commits (Nornir skips hosts that
    # failed before unless told otherwise).
    nr.data.reset_failed_hosts()
    retry = _ok(nr.run(task=_push, action="create"))
    assert retry["vMX-router-01"].changed is True
    assert retry["vMX-router-02"].changed is False


def test_commit_check_failure_is_rejected(routers: Simulator, nr: Nornir) -> None:
    def push_bad(task: Task) -> Result:
        # The filter does not exist on day-0: Junos refuses the commit (check step).
        params = {**PARAMS, "input_filter_name": "FILTER_NOPE"}
        return push_config(
            task,
            commands=render_gateway(params, ROLE[task.host.name], action="create"),
            comment="x",
        )

    results = nr.run(task=push_bad)
    for name, multi in results.items():
        exc = multi[0].exception
        assert isinstance(exc, DeviceRejectedError), name
        assert exc.step == "commit check"
        assert _running(routers, name) == _day0(routers, name)
    _unlocked(routers)


def test_locked_router_is_temporary(routers: Simulator, nr: Nornir) -> None:
    from nornir_esi.exceptions import DeviceUnavailableError, TemporaryError
    from tests.netsim.conftest import connect

    holder = connect(routers, "MX-1")
    try:
        holder.lock("candidate")
        results = nr.run(task=_push, action="create")
        exc = results["vMX-router-01"][0].exception
        assert isinstance(exc, DeviceUnavailableError) and isinstance(exc, TemporaryError)
        assert exc.step == "lock"
        holder.unlock("candidate")
    finally:
        holder.close_session()
    assert _running(routers, "vMX-router-01") == _day0(routers, "vMX-router-01")


def test_unreachable_router_is_temporary(tmp_path: Path) -> None:
    from nornir_esi.exceptions import DeviceUnavailableError

    overrides = tmp_path / "o.yaml"
    # A port nothing listens on.
    overrides.write_text("10.79.5.185: {hostname: 127.0.0.1, port: 9}\n")
    nornir = nornir_for([PRIMARY], str(overrides))
    results = nornir.run(task=collect_state, interfaces=["ae0"])
    exc = results["vMX-router-02"][0].exception
    assert isinstance(exc, DeviceUnavailableError)
    assert exc.step == "connect"


def test_a_batch_of_new_terms_reads_each_filter_once(
    nr: Nornir, routers: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nornir_esi.device import candidate

    reads: list[str] = []
    real = candidate._order

    def order(task: Any, step: str, entry: Any) -> list[str] | None:
        reads.append(str(entry.path[-1][1]))  # the filter's name
        return real(task, step, entry)

    monkeypatch.setattr(candidate, "_order", order)
    batch = [
        {
            **PARAMS,
            "vrf_name": f"vrf_batch_{n}",
            "vlan": str(1100 + n),
            "primary_device_logical_interface": f"ae0.{1100 + n}",
            "secondary_device_logical_interface": f"ae0.{1100 + n}",
            "prefix_list_name": f"vrf_batch_{n}_prefix",
            "filter_term_name": f"vrf_batch_{n}_filter",
        }
        for n in range(3)
    ]
    commands = "".join(render_gateway(params, "secondary", action="create") for params in batch)
    result = nr.filter(name=SECONDARY["name"]).run(
        task=push_config, commands=commands, comment="a batch"
    )
    assert not result.failed, result[SECONDARY["name"]][0].exception
    # Six new terms, two filters: each filter's order read once, before the load.
    assert sorted(reads) == ["INET_IN", "INET_OUT"]
    device = routers.router(SIM_NAME[SECONDARY["name"]])
    for name in ("INET_IN", "INET_OUT"):
        terms = routers.call(
            lambda name=name: [
                str(t)
                for t in device.running.xpath(
                    f"firewall/family/inet/filter[name='{name}']/term/name/text()"
                )
            ]
        )
        assert terms[-4:] == [*(f"vrf_batch_{n}_filter" for n in range(3)), "all-accept"], terms
