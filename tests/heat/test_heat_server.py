"""The loopback Heat itself: python-heatclient creates, reads, updates (PATCH) and deletes a
stack with the statuses Heat reports; a stopped server leaves no process behind."""

from __future__ import annotations

import os
import socket
from functools import partial
from typing import Any

import pytest
from heatclient import client as heat_client
from heatclient import exc as heat_exc
from keystoneauth1 import noauth, session

from nornir_esi.testing.heat import PROJECT, HeatServer
from tests.store.helpers import eventually

TEMPLATE = """\
heat_template_version: 2021-04-16
parameters:
  greeting:
    type: string
    default: hello
  subject:
    type: string
    default: world
resources:
  message:
    type: OS::Heat::Value
    properties:
      type: string
      value:
        str_replace:
          template: $greeting, $subject
          params: {$greeting: {get_param: greeting}, $subject: {get_param: subject}}
outputs:
  message:
    description: the greeting
    value: {get_attr: [message, value]}
"""

# Heat's own test resource, told to fail while it is created.
FAILING = """\
heat_template_version: 2021-04-16
resources:
  broken:
    type: OS::Heat::TestResource
    properties:
      fail: true
"""


def _client(server: HeatServer, project: str = PROJECT) -> Any:
    headers = {} if project == PROJECT else {"X-Auth-Project": project}
    auth = session.Session(auth=noauth.NoAuth(), timeout=60, additional_headers=headers)
    return heat_client.Client("1", session=auth, endpoint_override=server.endpoint(project))


def _settled(client: Any, stack_id: str) -> Any:
    """The stack once its action is no longer in progress (outputs not resolved meanwhile)."""

    def done() -> Any:
        stack = client.stacks.get(stack_id, resolve_outputs=False)
        return None if stack.stack_status.endswith("_IN_PROGRESS") else stack

    return eventually(done, timeout=60, interval=0.05, what=f"stack {stack_id} settled")


def _outputs(client: Any, stack_id: str) -> dict[str, Any]:
    stack = client.stacks.get(stack_id)
    return {o["output_key"]: o["output_value"] for o in stack.outputs}


def _gone_by_name(client: Any, name: str) -> bool:
    try:
        client.stacks.get(name)
    except heat_exc.HTTPNotFound:
        return True
    return False


def test_heat_stack_create_update_delete(heat_server: HeatServer) -> None:
    client = _client(heat_server)
    created = client.stacks.create(
        stack_name="esi_smoke", template=TEMPLATE, parameters={"subject": "router"}
    )
    stack_id = created["stack"]["id"]

    stack = _settled(client, stack_id)
    assert (stack.stack_status, stack.stack_status_reason) == (
        "CREATE_COMPLETE",
        "Stack CREATE completed successfully",
    )
    assert _outputs(client, stack_id) == {"message": "hello, router"}
    assert client.stacks.get("esi_smoke").id == stack_id  # by name too

    # PATCH: only the changed parameter; the other keeps its value from the create.
    client.stacks.update(stack_id, existing=True, parameters={"greeting": "bye"})
    stack = _settled(client, stack_id)
    assert (stack.stack_status, stack.stack_status_reason) == (
        "UPDATE_COMPLETE",
        "Stack UPDATE completed successfully",
    )
    assert _outputs(client, stack_id) == {"message": "bye, router"}
    assert stack.parameters["subject"] == "router"

    client.stacks.delete(stack_id)
    stack = _settled(client, stack_id)  # by id, Heat still shows the deleted stack
    assert (stack.stack_status, stack.stack_status_reason) == (
        "DELETE_COMPLETE",
        "Stack DELETE completed successfully",
    )
    # Heat reports DELETE_COMPLETE first and drops the name in a second step (its
    # Stack.delete, after the post-operations): by name, the stack is gone soon after.
    eventually(partial(_gone_by_name, client, "esi_smoke"), timeout=30, what="name gone")
    assert "esi_smoke" not in [s.stack_name for s in client.stacks.list()]


def test_heat_failed_stack_reports_heats_reason(heat_server: HeatServer) -> None:
    client = _client(heat_server)
    stack_id = client.stacks.create(stack_name="esi_smoke_failed", template=FAILING)["stack"]["id"]
    stack = _settled(client, stack_id)
    assert stack.stack_status == "CREATE_FAILED"
    assert stack.stack_status_reason.startswith("Resource CREATE failed")
    client.stacks.delete(stack_id)
    assert _settled(client, stack_id).stack_status == "DELETE_COMPLETE"


def test_heat_template_refused_up_front(heat_server: HeatServer) -> None:
    with pytest.raises(heat_exc.HTTPBadRequest, match="OS::Nothing::Here"):
        _client(heat_server).stacks.create(
            stack_name="esi_smoke_refused",
            template=TEMPLATE.replace("OS::Heat::Value", "OS::Nothing::Here"),
        )


def test_heat_project_is_the_header_not_the_url(heat_server: HeatServer) -> None:
    """noauth: a request is in the project its X-Auth-Project header names."""
    tenant = _client(heat_server, "tenant-a")
    stack_id = tenant.stacks.create(stack_name="esi_smoke_tenant", template=TEMPLATE)["stack"]["id"]
    try:
        assert _settled(tenant, stack_id).stack_status == "CREATE_COMPLETE"
        shown = tenant.stacks.get(stack_id, resolve_outputs=False)
        assert shown.parameters["OS::project_id"] == "tenant-a"
        with pytest.raises(heat_exc.HTTPNotFound):  # by name, in project admin: none
            _client(heat_server).stacks.get("esi_smoke_tenant", resolve_outputs=False)
    finally:
        tenant.stacks.delete(stack_id)
        _settled(tenant, stack_id)


def _refused(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _group_gone(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return True
    return False


def test_heat_server_stops_everything_it_started() -> None:
    server = HeatServer("stop-test")
    with server:
        assert server.api("stacks") == {"stacks": []}
        groups = server.pids()
        assert set(groups) == {"heat-engine", "heat-api", "rabbitmq"}
        rabbit = server._rabbit
        assert rabbit is not None
        assert server._postgres is not None
        ports = [server.port, rabbit.port, rabbit.epmd_port, server._postgres.port]
        base = server.base
        assert base is not None
    # Engine and its worker, the API, the shell script and the Erlang VM under it, the
    # node's own epmd, PostgreSQL: all gone, and the directory with them.
    for name, group in groups.items():
        eventually(partial(_group_gone, group), timeout=30, what=f"{name} group gone")
    for port in ports:
        eventually(partial(_refused, port), timeout=30, what=f"port {port} closed")
    assert not base.exists()
