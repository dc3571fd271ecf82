"""Heat through python-heatclient: one real stack per resource, consistent with the routers.

The stack of a resource is named as the original named it (``<type>_<id>``) and built from
``templates/heat/<type>.yaml``. Its parameters are the job's params that the template
declares (the template declares no password: secrets are never stack parameters) plus,
per router, its name and the configuration that was pushed to it, which the stack keeps
in ``OS::Heat::Value`` resources and shows as outputs. ``heat_timeout`` is the stack's
``timeout_mins``.

- **create**: a stack that already exists (the job was retried after a crash) is adopted
  and updated, never duplicated;
- **update**: ``PATCH`` (``existing=True``) with only the parameters that changed; nothing
  changed and the stack complete is no request at all;
- **delete**: the stack is deleted; the record keeps ``stack_id: ""`` and
  ``DELETE_COMPLETE``;
- every operation waits for Heat to finish, polling with backoff (without resolving
  outputs while in progress: resolving them mid-update can fail) up to the stack's own
  timeout; ``*_FAILED`` fails the job with Heat's ``stack_status_reason``; running past the
  deadline is a temporary error (the retried job adopts the stack and waits again).

Without Keystone (Heat's ``noauth`` paste flavor, as the tests' server runs), the client
uses keystoneauth1's ``noauth`` plugin against ``<endpoint>/v1/<project>``; with a
``session`` (a Keystone-authenticated keystoneauth1 session) the catalog is used instead.
``templates`` (a directory) replaces the shipped templates, for a lab's own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from nornir_esi.contract.records import HeatStack
from nornir_esi.exceptions import PermanentError, TemporaryError
from nornir_esi.heat.base import Pushed, stack_name

__all__ = ["OpenStackHeat"]

log = logging.getLogger(__name__)

# Polling while Heat works: a stack operation takes ~0.3-0.5 s on a quiet Heat, so the
# first polls come fast and slow down gently (bench/heat.py measures the choice).
POLL = (0.05, 1.3, 2.0)  # first delay, growth, longest delay (seconds)
_SLACK = 30.0  # seconds past the stack's own timeout before we stop waiting


def _template(resource_type: str, directory: Path | None) -> str:
    """``<type>.yaml`` from ``directory``, else the shipped ``templates/heat/``."""
    name = f"{resource_type}.yaml"
    path = (
        directory / name
        if directory is not None
        else resources.files("nornir_esi") / "templates" / "heat" / name
    )
    if not path.is_file():
        raise PermanentError(
            f"{resource_type}: no Heat template {name} in {directory or 'templates/heat'}"
        )
    return path.read_text(encoding="utf-8")


class OpenStackHeat:
    """:class:`nornir_esi.heat.base.Heat` on a real Heat API."""

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        project: str = "admin",
        session: Any = None,
        timeout: float = 60.0,
        templates: Path | None = None,
        poll: tuple[float, float, float] = POLL,
    ) -> None:
        from heatclient import client as heat_client

        if session is None:
            if not endpoint:
                raise PermanentError("Heat: an endpoint (or a Keystone session) is required")
            from keystoneauth1 import noauth
            from keystoneauth1 import session as ks_session

            # Under noauth, Heat takes the project from this header, not from the URL.
            session = ks_session.Session(
                auth=noauth.NoAuth(),
                timeout=timeout,
                additional_headers={"X-Auth-Project": project},
            )
            self._client = heat_client.Client(
                "1", session=session, endpoint_override=f"{endpoint.rstrip('/')}/v1/{project}"
            )
        else:
            self._client = heat_client.Client("1", session=session)
        self.endpoint = endpoint
        self.templates = templates
        self.poll = poll
        self._templates: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"OpenStackHeat({self.endpoint!r})"

    # -- heatclient calls, with its errors mapped -----------------------------------------

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from heatclient import exc as heat_exc
        from keystoneauth1 import exceptions as ks_exc

        try:
            return fn(*args, **kwargs)
        except heat_exc.HTTPNotFound:
            raise
        except (heat_exc.HTTPBadRequest, heat_exc.HTTPConflict) as exc:
            # Heat refused the template or parameters: retrying fails the same way.
            raise PermanentError(f"Heat: {what}: {exc}") from exc
        except (heat_exc.HTTPException, ks_exc.ClientException) as exc:
            raise TemporaryError(f"Heat: {what}: {exc}", delay=2.0) from exc

    def _find(self, name: str) -> Any | None:
        from heatclient import exc as heat_exc

        try:
            stack = self._call(
                f"stack {name}", self._client.stacks.get, name, resolve_outputs=False
            )
        except heat_exc.HTTPNotFound:
            return None
        # Heat still shows a deleted stack by name for a while: it is gone all the same.
        return None if str(stack.stack_status) == "DELETE_COMPLETE" else stack

    def _wait(self, name: str, stack_id: str, action: str, timeout_mins: int) -> Any:
        """The stack once ``action`` is no longer in progress; errors for failure/deadline."""
        from heatclient import exc as heat_exc

        deadline = time.monotonic() + timeout_mins * 60 + _SLACK
        delay, growth, longest = self.poll
        while True:
            try:
                stack = self._call(
                    f"stack {name}", self._client.stacks.get, stack_id, resolve_outputs=False
                )
            except heat_exc.HTTPNotFound:
                if action == "DELETE":
                    return None
                raise TemporaryError(f"Heat: stack {name} vanished during {action}") from None
            status = str(stack.stack_status)
            if not status.endswith("_IN_PROGRESS"):
                if status.endswith("_FAILED"):
                    raise PermanentError(
                        f"Heat: stack {name}: {status}: {stack.stack_status_reason}"
                    )
                return stack
            if time.monotonic() > deadline:
                raise TemporaryError(
                    f"Heat: stack {name} still {status} after {timeout_mins} min", delay=5.0
                )
            threading.Event().wait(delay)
            delay = min(delay * growth, longest)

    def _record(
        self, stack: Any, resource_type: str, resource_id: str, tenant_id: str
    ) -> HeatStack:
        full = self._call(f"stack {stack.stack_name}", self._client.stacks.get, stack.id)
        outputs = [
            {
                "output_key": o.get("output_key"),
                "output_value": o.get("output_value"),
                "description": o.get("description", ""),
            }
            for o in (getattr(full, "outputs", None) or [])
        ]
        return HeatStack(
            stack_id=str(full.id),
            tenant_id=tenant_id,
            stack_status=str(full.stack_status),
            output=outputs,
            status_reason=str(full.stack_status_reason or ""),
            id=f"{resource_type}:{resource_id}",
        )

    # -- the Heat protocol ---------------------------------------------------------------

    def apply(
        self,
        resource_type: str,
        resource_id: str,
        *,
        tenant_id: str,
        template: str,
        parameters: Mapping[str, Any],
        timeout_mins: int,
        exists: bool,
        pushed: Mapping[str, Pushed] | None = None,
    ) -> HeatStack:
        """Create the stack, or update the one Heat already has, and wait for Heat to finish.

        Heat, not ``exists``, says whether the stack exists, and its template is the resource
        type's (see the module), not ``template``. See :meth:`~nornir_esi.heat.base.Heat.apply`.
        """
        del template, exists  # the stack itself tells whether it exists
        import yaml

        name = stack_name(resource_type, resource_id)
        text = self._templates.get(resource_type) or _template(resource_type, self.templates)
        self._templates[resource_type] = text
        declared = (yaml.safe_load(text) or {}).get("parameters") or {}
        wanted: dict[str, str] = {
            k: str(v) for k, v in parameters.items() if k in declared and v is not None
        }
        for role, record in (pushed or {}).items():
            if f"{role}_router" in declared:
                wanted[f"{role}_router"] = record.router
                wanted[f"{role}_configuration"] = record.configuration
        missing = sorted(
            k for k, spec in declared.items() if k not in wanted and "default" not in spec
        )
        if missing:
            raise PermanentError(
                f"Heat: stack {name}: no value for parameters {', '.join(missing)}"
            )
        stack = self._find(name)
        if stack is not None and str(stack.stack_status).endswith("_IN_PROGRESS"):
            stack = self._wait(name, stack.id, str(stack.action), timeout_mins)
        if stack is None:
            created = self._call(
                f"create stack {name}",
                self._client.stacks.create,
                stack_name=name,
                template=text,
                parameters=wanted,
                timeout_mins=timeout_mins,
            )
            stack_id = str(created["stack"]["id"])
            log.info("heat: creating stack %s (%s)", name, stack_id)
            stack = self._wait(name, stack_id, "CREATE", timeout_mins)
        else:
            current = {k: str(v) for k, v in (stack.parameters or {}).items()}
            changed = {k: v for k, v in wanted.items() if current.get(k) != v}
            complete = str(stack.stack_status) in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
            if changed or not complete:
                log.info("heat: updating stack %s: %s", name, ", ".join(sorted(changed)) or "-")
                self._call(
                    f"update stack {name}",
                    self._client.stacks.update,
                    stack.id,
                    existing=True,
                    template=text,
                    parameters=changed,
                    timeout_mins=timeout_mins,
                )
                stack = self._wait(name, stack.id, "UPDATE", timeout_mins)
        return self._record(stack, resource_type, resource_id, tenant_id)

    def recorded(self, resource_type: str, resource_id: str) -> dict[str, Pushed] | None:
        """Per role, what the stack's ``<role>_configuration`` outputs record; ``{}`` if no stack.

        A stack being deleted counts as none. See :meth:`~nornir_esi.heat.base.Heat.recorded`.
        """
        stack = self._find(stack_name(resource_type, resource_id))
        if stack is None or str(stack.stack_status).startswith("DELETE"):
            return {}
        full = self._call(f"stack {stack.stack_name}", self._client.stacks.get, stack.id)
        out: dict[str, Pushed] = {}
        for output in getattr(full, "outputs", None) or []:
            key, value = str(output.get("output_key")), output.get("output_value")
            if key.endswith("_configuration") and isinstance(value, dict):
                out[key.removesuffix("_configuration")] = Pushed(
                    str(value.get("router", "")), str(value.get("configuration", ""))
                )
        return out

    def delete(self, resource_type: str, resource_id: str, *, tenant_id: str) -> HeatStack:
        """Delete the stack, if there is one, and wait for Heat to finish (up to 60 minutes).

        The record keeps ``stack_id`` empty and ``DELETE_COMPLETE``; see
        :meth:`~nornir_esi.heat.base.Heat.delete`.
        """
        name = stack_name(resource_type, resource_id)
        stack = self._find(name)
        if stack is not None:
            self._call(f"delete stack {name}", self._client.stacks.delete, stack.id)
            self._wait(name, stack.id, "DELETE", 60)
        return HeatStack(
            stack_id="",
            tenant_id=tenant_id,
            stack_status="DELETE_COMPLETE",
            output=[],
            status_reason="Stack DELETE completed successfully",
            id=f"{resource_type}:{resource_id}",
        )
