"""What the repository ships: the sample inventory file, and the package data the wheel
carries (templates, template records, the simulator's day-0 configuration)."""

from __future__ import annotations

import tomllib
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from nornir_esi.contract import desired
from nornir_esi.contract.records import shipped_heat_templates
from nornir_esi.device.inventory import ResourceInventory, load_overrides
from nornir_esi.services.rendering import _environment

ROOT = Path(__file__).parent.parent
INVENTORY = ROOT / "inventory"


class TestSampleInventory:
    def test_hosts_file_names_exactly_the_sample_routers(self) -> None:
        """``inventory/hosts.yaml`` (``nornir-esi run --inventory``) maps every router of
        ``inventory/resources.yaml``, and nothing else, to a loopback simulator."""
        routers = [
            b for t, b in desired.load_file(INVENTORY / "resources.yaml") if t == "edge_router"
        ]
        overrides = load_overrides(INVENTORY / "hosts.yaml")
        assert sorted(overrides) == sorted(r["name"] for r in routers)
        assert len(routers) == 2

        hosts = ResourceInventory(routers, str(INVENTORY / "hosts.yaml")).load().hosts
        assert sorted(hosts) == sorted(overrides)
        for name, host in hosts.items():
            # The resources keep the origin's 10.x addresses; the file is why nothing
            # ever connects there.
            assert host.hostname == overrides[name]["hostname"] == "127.0.0.1", name
            assert host.port == overrides[name]["port"], name
            assert host.data["ip"].startswith("10."), name


def _package_files(root: Traversable, prefix: str = "") -> set[str]:
    out: set[str] = set()
    for entry in root.iterdir():
        if entry.name == "__pycache__":
            continue
        path = f"{prefix}{entry.name}"
        if entry.is_dir():
            out |= _package_files(entry, f"{path}/")
        else:
            out.add(path)
    return out


class TestPackageData:
    """No wheel is built here (that needs the build backend from the network); instead the
    data the code loads through ``importlib.resources`` is checked to sit inside the
    package, and to be matched by ``pyproject.toml``'s package-data globs, which is what
    puts a non-Python file into the wheel."""

    def _globs(self) -> list[str]:
        pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
        globs: list[str] = pyproject["tool"]["setuptools"]["package-data"]["nornir_esi"]
        return globs

    def _shipped(self) -> set[str]:
        package = Path(str(resources.files("nornir_esi")))
        return {
            str(path.relative_to(package))
            for pattern in self._globs()
            for path in package.glob(pattern)
            if path.is_file()
        }

    def test_the_data_the_code_loads_is_package_data(self) -> None:
        files = _package_files(resources.files("nornir_esi"))
        junos = {f for f in files if f.startswith("templates/junos/") and f.endswith(".j2")}
        records = {f for f in files if f.startswith("templates/heat_records/")}
        assert {
            "templates/junos/internet_gateway.set.j2",
            "templates/junos/internet_gateway.delete.j2",
        } <= junos
        assert {f"templates/heat_records/{i}.json" for i in shipped_heat_templates()} == records
        assert len(records) == 10  # the chain's six and the family's four
        assert "netsim/day0.conf" in files
        assert "templates/heat/internet_gateway.yaml" in files
        wanted = junos | records | {"netsim/day0.conf", "templates/heat/internet_gateway.yaml"}
        assert wanted <= self._shipped(), sorted(wanted - self._shipped())

    def test_every_template_file_is_matched_by_a_glob(self) -> None:
        templates = {
            f for f in _package_files(resources.files("nornir_esi")) if f.startswith("templates/")
        }
        assert templates and templates <= self._shipped(), sorted(templates - self._shipped())

    def test_the_renderer_finds_every_junos_template_in_the_package(self) -> None:
        """The renderer's Jinja loader reads by package name, as from an installed wheel."""
        junos = {
            f.removeprefix("templates/junos/")
            for f in _package_files(resources.files("nornir_esi"))
            if f.startswith("templates/junos/")
        }
        assert sorted(_environment("test").list_templates()) == sorted(junos)
