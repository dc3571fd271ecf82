"""``make demo`` (``python -m nornir_esi.demo``) runs through and shows what it promises."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from .test_create_flow import _origin_sections
from .test_family import _origin_diff

ROOT = Path(__file__).parent.parent.parent
CHECKPOINTS = [
    "(1) the resource is written to /config",
    "(2) the job manager plans the workflow",
    "(3) the routers are configured and the stack recorded",
    "(4) the heat worker's outputs",
    "(5) the monitoring worker's state",
    "(6) the last job writes /state and removes the job state",
]
# The origin's diff names the routers MX-1 (secondary) and MX-2 (primary).
ORIGIN_NAMES = {"vMX-router-01": "MX-1", "vMX-router-02": "MX-2"}
_HEADER = re.compile(r"^## (\S+) \((primary|secondary)\): show \| compare \((.*)\)$")
GATEWAY_DIFF = "day-0 -> the gateway"
FAMILY_DIFF = "the gateway -> its family"


def _diffs(output: str, which: str) -> dict[str, list[str]]:
    """Each router's printed diff of ``which``, lines with their whitespace collapsed."""
    diffs: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in output.splitlines():
        if header := _HEADER.match(line):
            current = diffs.setdefault(header.group(1), []) if header.group(3) == which else None
        elif line.startswith(("commit log:", "VRRP group")):
            current = None
        elif current is not None and line.strip():
            current.append(" ".join(line.split()))
    return diffs


def test_the_demo_creates_the_seeds_gateway_and_shows_it(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "nornir_esi.demo"],
        cwd=tmp_path,  # the demo finds the inventory by itself
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    headers = [line[4:] for line in out.splitlines() if line.startswith("### ")]
    # Each checkpoint, in order; (2) once per planned job (heat, then monitoring).
    assert list(dict.fromkeys(headers)) == CHECKPOINTS
    assert headers.count(CHECKPOINTS[1]) == 2
    assert (
        "internet_gateway 429e24b5-a2f0-4fb8-b467-e335857e9476 and its family: CREATE_COMPLETED"
        in out
    )

    sections = _origin_sections()
    diffs = _diffs(out, GATEWAY_DIFF)
    assert sorted(diffs) == sorted(ORIGIN_NAMES)
    for router, origin in ORIGIN_NAMES.items():
        assert diffs[router] == sections[origin], router
    assert out.count("commit log: create:heat_worker:internet_gateway:429e24b5") == 2

    # The family in one file: on each router the origin's diffs of its three members, its
    # VRRP role, and the public block routed to the tenant's router in the VRF.
    family = _diffs(out, FAMILY_DIFF)
    for router, role in (("vMX-router-02", "primary"), ("vMX-router-01", "secondary")):
        wanted = [
            line
            for resource_type in ("public_ip", "gw_interface", "static_route")
            for line in _origin_diff(resource_type, role)
        ]
        assert sorted(family[router]) == sorted(wanted), router
    assert "VRRP group 20: MASTER; iBGP neighbor: Established; static routes active: 1/1" in out
    assert "VRRP group 20: BACKUP; iBGP neighbor: Established; static routes active: 1/1" in out
    routes = [" ".join(line.split()) for line in out.splitlines() if "Static" in line]
    assert routes == ["* 203.0.112.0/28 Static 172.16.101.1"] * 2
