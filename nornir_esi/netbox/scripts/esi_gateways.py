"""nornir-esi: internet gateways from NetBox (custom scripts).

Runs inside NetBox (its Python, its Django), installed by ``nornir-esi netbox setup``; it
does not import nornir-esi. It reaches nornir-esi's HTTP API through the webhook named
``nornir-esi`` (its URL, and its secret, with which every request here is signed the way
NetBox signs webhooks), so one object in NetBox holds the whole connection.

Each script validates against NetBox first (the HA interface is a nornir-esi VLAN group;
the VLAN id is within its ranges and not taken in it), then asks nornir-esi. Unchecked
``commit`` is a dry run: the log shows each router's Junos diff, and NetBox rolls back.
Committed, the gateway's VLAN is reserved in NetBox (NetBox's own uniqueness refuses a
second one) and the gateway is written to ``/config``; the log names the job ids.
nornir-esi writes the provisioned state back (the VLAN active, its VRF and interface units)
once the routers carry it.
"""

import hashlib
import hmac
import json
import uuid

import requests
from extras.models import Webhook
from extras.scripts import IntegerVar, ObjectVar, Script, StringVar
from ipam.models import VLAN, VLANGroup
from tenancy.models import Tenant
from utilities.exceptions import AbortScript

WEBHOOK = "nornir-esi"
TIMEOUT = 300


def _door():
    hook = Webhook.objects.filter(name=WEBHOOK).first()
    if hook is None or not hook.secret or "/netbox/webhook" not in hook.payload_url:
        raise AbortScript(
            f"nornir-esi is not set up in this NetBox: no webhook {WEBHOOK!r} with a secret"
            " (run `nornir-esi netbox setup --webhook-url .../netbox/webhook`)"
        )
    return hook.payload_url.rsplit("/netbox/webhook", 1)[0], hook.secret


def _who(script):
    # Who runs the script, and NetBox's id of the request: for nornir-esi's audit trail,
    # named as NetBox names them in a webhook's payload.
    request = getattr(script, "request", None)
    user = getattr(request, "user", None)
    return {
        "username": str(getattr(user, "username", "") or ""),
        "request_id": str(getattr(request, "id", "") or ""),
    }


def _ask(script, action, gateway, commit):
    base, secret = _door()
    payload = {"action": action, "dry_run": not commit, "gateway": gateway, **_who(script)}
    body = json.dumps(payload).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()
    try:
        response = requests.post(
            f"{base}/netbox/gateways",
            data=body,
            headers={"Content-Type": "application/json", "X-Hook-Signature": signature},
            timeout=TIMEOUT,
        )
    except requests.RequestException as exc:
        raise AbortScript(f"nornir-esi at {base} cannot be reached: {exc}") from exc
    try:
        answer = response.json()
    except ValueError:
        answer = {"error": response.text[:500]}
    if response.status_code >= 400:
        raise AbortScript(f"nornir-esi refused the {action}: {answer.get('error')}")
    for router, diff in sorted(answer.get("diffs", {}).items()):
        script.log_info(f"{router}: `show | compare`\n```\n{diff.strip() or '(no change)'}\n```")
    return answer


def _tenant_id(tenant):
    return str(tenant.custom_field_data.get("esi_tenant_id") or tenant.slug)


def _ha_interface(group):
    if not group.custom_field_data.get("esi_primary_interface"):
        raise AbortScript(f"VLAN group {group.name}: it is not a nornir-esi HA interface")
    return group.custom_field_data.get("esi_id") or str(
        uuid.uuid5(uuid.UUID("6f1c1b0e-7d1e-4c55-9a53-2b7f0e5d9a41"), f"ipam.vlangroup:{group.pk}")
    )


def _gateway_vlan(vlan):
    gateway_id = vlan.custom_field_data.get("esi_id")
    if not gateway_id:
        raise AbortScript(f"VLAN {vlan}: it is not a nornir-esi internet gateway (no esi_id)")
    return gateway_id


class CreateInternetGateway(Script):
    """Create internet gateway: a tenant's VLAN on an HA interface of a router pair."""

    class Meta:
        """The script as NetBox lists it; a dry run unless committed, never scheduled."""

        name = "Create internet gateway"
        description = "A tenant's VLAN on an HA interface of a router pair (nornir-esi)"
        commit_default = False
        scheduling_enabled = False

    ha_interface = ObjectVar(
        model=VLANGroup, description="The HA interface (a nornir-esi VLAN group)"
    )
    vlan_id = IntegerVar(min_value=1, max_value=4094, description="The gateway's VLAN id")
    # Not `name`/`description`: those are the script's own (Meta) attributes.
    gateway_name = StringVar(max_length=64, label="Name")
    tenant = ObjectVar(model=Tenant)
    internet_service = StringVar(description="The internet_service id (nornir-esi)")
    qos_option = StringVar(description="The qos_option id (nornir-esi)")
    gateway_description = StringVar(required=False, label="Description")

    def run(self, data, commit):
        """Check the VLAN id in NetBox, reserve the VLAN (when committed), then ask nornir-esi.

        The VLAN id must be within the HA interface's VLAN ranges and not taken in it.
        """
        group, vid = data["ha_interface"], data["vlan_id"]
        ha_id = _ha_interface(group)
        if not any(r.lower <= vid < r.upper for r in group.vid_ranges):
            raise AbortScript(f"VLAN group {group.name}: vlan_id {vid} is outside its VLAN ranges")
        taken = VLAN.objects.filter(group=group, vid=vid).first()
        if taken is not None:
            raise AbortScript(
                f"VLAN group {group.name}: vlan_id {vid} is already taken by VLAN"
                f" {taken.name} (id {taken.pk})"
            )
        gateway_id = str(uuid.uuid4())
        if commit:
            # Reserved first: NetBox's own uniqueness is the lock on the VLAN id, and the
            # reservation rolls back with the script if nornir-esi refuses.
            vlan = VLAN(
                group=group,
                vid=vid,
                name=data["gateway_name"],
                tenant=data["tenant"],
                status="reserved",
                description=data.get("gateway_description") or "",
            )
            vlan.custom_field_data.update(
                esi_id=gateway_id,
                esi_internet_service=data["internet_service"],
                esi_qos_option=data["qos_option"],
                esi_state="PENDING_CREATE",
            )
            vlan.full_clean()
            vlan.save()
        answer = _ask(
            self,
            "create",
            {
                "id": gateway_id,
                "name": data["gateway_name"],
                "tenant_id": _tenant_id(data["tenant"]),
                "description": data.get("gateway_description") or "",
                "vlan_id": str(vid),
                "downlink_interface_id": ha_id,
                "internet_service_id": data["internet_service"],
                "qos_option_id": data["qos_option"],
            },
            commit,
        )
        if not commit:
            return f"dry run: internet_gateway {gateway_id} would be created"
        jobs = ", ".join(answer.get("jobs") or []) or "(not planned yet)"
        self.log_success(
            f"internet_gateway {gateway_id} version {answer.get('version')} written to"
            f" /config; jobs: {jobs}",
            obj=vlan,
        )
        return f"internet_gateway {gateway_id}"


class UpdateInternetGateway(Script):
    """Update internet gateway: its name, description or QoS option."""

    class Meta:
        """The script as NetBox lists it; a dry run unless committed, never scheduled."""

        name = "Update internet gateway"
        description = "Change a gateway's name, description or QoS option (nornir-esi)"
        commit_default = False
        scheduling_enabled = False

    vlan = ObjectVar(model=VLAN, description="The gateway's VLAN")
    qos_option = StringVar(required=False, description="A new qos_option id")
    gateway_name = StringVar(required=False, max_length=64, label="Name")
    gateway_description = StringVar(required=False, label="Description")

    def run(self, data, commit):
        """Ask nornir-esi to change what was given; when committed, the VLAN shows it too."""
        vlan = data["vlan"]
        gateway = {"id": _gateway_vlan(vlan)}
        for field, key in (
            ("qos_option", "qos_option_id"),
            ("gateway_name", "name"),
            ("gateway_description", "description"),
        ):
            if data.get(field):
                gateway[key] = data[field]
        answer = _ask(self, "update", gateway, commit)
        if commit:
            if data.get("qos_option"):
                vlan.custom_field_data["esi_qos_option"] = data["qos_option"]
            if data.get("gateway_name"):
                vlan.name = data["gateway_name"]
            vlan.custom_field_data["esi_state"] = "PENDING_UPDATE"
            vlan.save()
            jobs = ", ".join(answer.get("jobs") or []) or "(none)"
            self.log_success(
                f"internet_gateway {gateway['id']}: {answer.get('outcome')}, version"
                f" {answer.get('version')}; jobs: {jobs}",
                obj=vlan,
            )
        return f"internet_gateway {gateway['id']}"


class DeleteInternetGateway(Script):
    """Delete internet gateway: remove it from both routers (nornir-esi's two-step delete)."""

    class Meta:
        """The script as NetBox lists it; a dry run unless committed, never scheduled."""

        name = "Delete internet gateway"
        description = "Remove a gateway from both routers (nornir-esi's two-step delete)"
        commit_default = False
        scheduling_enabled = False

    vlan = ObjectVar(model=VLAN, description="The gateway's VLAN")

    def run(self, data, commit):
        """Ask nornir-esi to delete the gateway; when committed, its VLAN is deprecated."""
        vlan = data["vlan"]
        gateway_id = _gateway_vlan(vlan)
        answer = _ask(self, "delete", {"id": gateway_id}, commit)
        if commit:
            vlan.custom_field_data["esi_state"] = "PENDING_DELETE"
            vlan.status = "deprecated"
            vlan.save()
            jobs = ", ".join(answer.get("jobs") or []) or "(none)"
            self.log_success(
                f"internet_gateway {gateway_id}: marked for deletion, version"
                f" {answer.get('version')}; jobs: {jobs}",
                obj=vlan,
            )
        return f"internet_gateway {gateway_id}"
