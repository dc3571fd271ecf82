"""The original orchestrator's captured data, as the tests read it.

Copies of the workplace's spec fixtures, kept in ``tests/fixtures`` (the only copies the
tests read): ``fixtures/seed.txt`` (the seed document),
``fixtures/origin-internet-gateway-scenario.json`` (every key/value of the create scenario)
and ``fixtures/heat_templates/*.json`` (template records).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"

_FENCE_RE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)


def scenario_steps() -> list[dict[str, Any]]:
    """``[{flow, point, key, value}]`` in capture order."""
    data = json.loads((FIXTURES / "origin-internet-gateway-scenario.json").read_text())
    steps: list[dict[str, Any]] = data["steps"]
    return steps


def seed_entries() -> list[tuple[str, Any]]:
    """``(key, value)`` of every fenced block of the seed: a key line, then JSON."""
    out = []
    for block in _FENCE_RE.findall((FIXTURES / "seed.txt").read_text()):
        key, _, text = block.partition("\n")
        out.append((key.strip(), json.loads(text)))
    return out


def template_records() -> dict[str, dict[str, Any]]:
    """Template id -> ``{"key", "value"}`` as the original stored it."""
    out = {}
    for path in sorted((FIXTURES / "heat_templates").glob("*.json")):
        record = json.loads(path.read_text())
        out[record["value"]["body"]["id"]] = record
    return out


def family_template_records() -> dict[str, dict[str, Any]]:
    """Template id -> the origin's family template (``fixtures/family/heat_templates``).

    ``{"meta": <the record's fields>, "template_file": <its text>}``; the 2017 monitoring
    template ``gw_interface_monitoring`` included.
    """
    folder = FIXTURES / "family" / "heat_templates"
    out = {}
    for meta in sorted([*folder.glob("*.meta.json"), *folder.glob("2017_30bcbe7/*.meta.json")]):
        record = json.loads(meta.read_text())
        text = meta.with_name(meta.name.replace(".meta.json", ".template.yaml.j2")).read_text()
        out[record["id"]] = {"meta": record, "template_file": text}
    return out


def config_bodies() -> dict[tuple[str, str], dict[str, Any]]:
    """``(resource_type, id)`` -> body of every resource the scenario creates."""
    from nornir_esi.contract import keys

    out = {}
    for step in scenario_steps():
        parsed = keys.parse_config_key(step["key"])
        if parsed is not None:
            out[parsed] = step["value"]["body"]
    return out


class Graph:
    """A resource graph answering ``lookup(type, id)`` from a dict of bodies."""

    def __init__(self, bodies: Mapping[tuple[str, str], dict[str, Any]]) -> None:
        self.bodies: dict[tuple[str, str], dict[str, Any]] = dict(bodies)

    def __call__(self, resource_type: str, resource_id: str) -> dict[str, Any] | None:
        return self.bodies.get((resource_type, resource_id))


def strict(value: Any) -> str:
    """JSON text that tells ``830`` from ``"830"`` and ``1`` from ``true`` (``==`` does not)."""
    return json.dumps(value, sort_keys=True)
