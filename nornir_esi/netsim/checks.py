"""The commit checks Junos performs that a gateway configuration can trip over.

Only references and uniqueness rules are checked, not the whole Junos semantics. As on
Junos, the configuration is checked as it takes effect: with the statements its
apply-groups inherit (a policy a group names must exist where the group is applied), and
without inactive statements, which Junos leaves out of the committed configuration. The
``groups`` subtree itself is skipped (its ``<*>`` wildcards are no configuration by
themselves), but every group it names must be defined.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from lxml import etree

from nornir_esi.exceptions import NetsimRpcError
from nornir_esi.junos.inherit import inherit
from nornir_esi.junos.tree import junos_path

__all__ = ["check"]

_Element = etree._Element
_Path = tuple[str, ...]

_RI = ("routing-instances", "instance")
_FAMILIES = ("inet", "inet6")


def check(config: _Element) -> list[NetsimRpcError]:
    """The errors a commit of ``config`` would fail with, in document order; [] when it commits."""
    errors: list[NetsimRpcError] = []
    effective = inherit(config)
    state = _State(effective)
    for el, path in _walk(effective, ()):
        for rule in _RULES:
            errors += rule(state, el, path)
    return errors


class _State:
    """The configuration under check and what the walk has seen so far.

    Seen so far: which routing instance claimed each unit, the VLAN ids per interface and
    the counters per filter.

    :meth:`find` looks statements up from the top through an index built once per list
    (the configuration does not change during a check): with a thousand gateways, a
    linear search per reference made a commit check quadratic.
    """

    def __init__(self, config: _Element) -> None:
        self.config = config
        self.ri_of_ifl: dict[str, str] = {}
        # (rule, where) -> value -> the name of the latest statement that had it
        self.seen: dict[tuple[str, object], dict[str, str]] = {}
        self._index: dict[tuple[str, ...], dict[str, _Element]] = {}

    def find(self, *steps: str) -> _Element | None:
        """The active statement at ``steps`` from the top, or None.

        A ``tag=name`` step picks a list entry by name.
        """
        node: _Element | None = self.config
        for n, step in enumerate(steps):
            if node is None:
                return None
            tag, _, name = step.partition("=")
            if not name:
                node = next(_active(node, tag), None)
                continue
            key = (*steps[:n], tag)
            entries = self._index.get(key)
            if entries is None:
                entries = {}
                for c in _active(node, tag):
                    entries.setdefault(_name(c), c)
                self._index[key] = entries
            node = entries.get(name)
        return node


def _walk(el: _Element, path: _Path) -> Iterator[tuple[_Element, _Path]]:
    for c in el:
        if not isinstance(c.tag, str) or c.get("inactive") == "inactive":
            continue
        sub = (*path, c.tag)
        if sub == ("groups",):
            continue
        yield c, sub
        yield from _walk(c, sub)


def _active(parent: _Element | None, tag: str) -> Iterator[_Element]:
    if parent is None:
        return
    for c in parent:
        if c.tag == tag and c.get("inactive") != "inactive":
            yield c


def _name(el: _Element, key: str = "name") -> str:
    found = el.find(key)
    return (found.text or "") if found is not None else ""


def _error(message: str, at: _Element, bad: str) -> NetsimRpcError:
    return NetsimRpcError(
        message,
        tag="operation-failed",
        error_type="protocol",
        severity="error",
        path=junos_path(at),
        bad_element=bad,
    )


def _relative(path: _Path) -> _Path:
    """``path`` inside a routing instance as if it were at the top (same statements apply)."""
    return path[2:] if path[:2] == _RI else path


def _filter_path(path: _Path) -> bool:
    """Whether ``path`` ends in a firewall filter: ``firewall [family inet] filter``."""
    return path in (
        ("firewall", "filter"),
        *(("firewall", "family", f, "filter") for f in _FAMILIES),
    )


# --- rules: each looks at one element and returns the errors it finds -----------------------


def _filter_refs(state: _State, el: _Element, path: _Path) -> list[NetsimRpcError]:
    if not (
        len(path) == 7
        and path[:3] == ("interfaces", "interface", "unit")
        and path[3:5] in (("family", "inet"), ("family", "inet6"))
        and path[5] == "filter"
        and path[6] in ("input", "output")
    ):
        return []
    name = _name(el, "filter-name")
    for where in (("family", path[4], f"filter={name}"), (f"filter={name}",)):
        if state.find("firewall", *where) is not None:
            return []
    parent = el.getparent()
    assert parent is not None
    return [_error(f"Referenced filter '{name}' is not defined", parent, str(el.tag))]


def _group_refs(state: _State, el: _Element, path: _Path) -> list[NetsimRpcError]:
    # Anywhere outside `groups`: the top, an interface, a unit, a bgp group of an instance.
    if el.tag not in ("apply-groups", "apply-groups-except"):
        return []
    name = el.text or ""
    if state.find(f"groups={name}") is not None:
        return []
    parent = el.getparent()
    assert parent is not None
    return [_error(f"{el.tag}: group '{name}' is not defined", parent, name)]


_POLICY_REFS: frozenset[_Path] = frozenset(
    {
        ("routing-options", "instance-import"),
        ("routing-options", "instance-export"),
        ("vrf-import",),
        ("vrf-export",),
        ("protocols", "bgp", "import"),
        ("protocols", "bgp", "export"),
        ("protocols", "bgp", "group", "import"),
        ("protocols", "bgp", "group", "export"),
        ("protocols", "bgp", "group", "neighbor", "import"),
        ("protocols", "bgp", "group", "neighbor", "export"),
    }
)


def _policy_refs(state: _State, el: _Element, path: _Path) -> list[NetsimRpcError]:
    rel = _relative(path)
    # vrf-import/export only exist in a routing instance.
    if rel not in _POLICY_REFS or (len(rel) == 1 and rel == path):
        return []
    name = el.text or ""
    if state.find("policy-options", f"policy-statement={name}") is not None:
        return []
    parent = el.getparent()
    assert parent is not None
    return [_error(f"Policy error: Policy {name} referenced but not defined", parent, name)]


_PREFIX_LIST_REFS = ("destination-prefix-list", "source-prefix-list", "prefix-list")


def _prefix_list_refs(state: _State, el: _Element, path: _Path) -> list[NetsimRpcError]:
    in_filter = (
        len(path) >= 3
        and path[-1] in _PREFIX_LIST_REFS
        and path[-3:-1] == ("term", "from")
        and _filter_path(path[:-3])
    )
    in_policy = path in (
        ("policy-options", "policy-statement", "from", "prefix-list"),
        ("policy-options", "policy-statement", "term", "from", "prefix-list"),
    )
    if not (in_filter or in_policy):
        return []
    name = _name(el)
    if state.find("policy-options", f"prefix-list={name}") is not None:
        return []
    parent = el.getparent()
    assert parent is not None
    return [_error(f"Referenced prefix-list '{name}' is not defined", parent, name)]


def _policer_refs(state: _State, el: _Element, path: _Path) -> list[NetsimRpcError]:
    if not (path[-3:] == ("term", "then", "policer") and _filter_path(path[:-3])):
        return []
    name = el.text or ""
    if state.find("firewall", f"policer={name}") is not None:
        return []
    parent = el.getparent()
    assert parent is not None
    return [_error(f"Referenced policer '{name}' is not defined", parent, name)]


def _instance_interfaces(state: _State, el: _Element, path: _Path) -> list[NetsimRpcError]:
    if path != (*_RI, "interface"):
        return []
    ifl = _name(el)
    # `interface ae0` in a routing instance means unit 0.
    ifd, dot, unit = ifl.rpartition(".")
    if not dot:
        ifd, unit = ifl, "0"
    instance = el.getparent()
    assert instance is not None
    if state.find("interfaces", f"interface={ifd}", f"unit={unit}") is None:
        return [_error(f"Referenced interface '{ifl}' is not defined", instance, ifl)]
    owner = state.ri_of_ifl.setdefault(ifl, _name(instance))
    if owner != _name(instance):
        return [_error(f"Interface {ifl} is already in routing instance {owner}", instance, ifl)]
    return []


def _vlan_ids(state: _State, el: _Element, path: _Path) -> list[NetsimRpcError]:
    if path != ("interfaces", "interface", "unit", "vlan-id"):
        return []
    unit = el.getparent()
    assert unit is not None
    value = (el.text or "").strip()
    if not value.isdigit() or not 1 <= int(value) <= 4094:
        return [_error(f"vlan-id {value} is outside 1-4094", unit, "vlan-id")]
    ifd = unit.getparent()
    assert ifd is not None
    # The walk is in document order: what was seen on this interface came before.
    seen = state.seen.setdefault(("vlan-id", _name(ifd)), {})
    earlier = seen.get(el.text or "")
    seen[el.text or ""] = _name(unit)
    if earlier is not None:
        message = (
            f"Duplicate vlan-id {value} on interface {_name(ifd)} "
            f"(units {earlier} and {_name(unit)})"
        )
        return [_error(message, unit, "vlan-id")]
    return []


def _counters(state: _State, el: _Element, path: _Path) -> list[NetsimRpcError]:
    if not (path[-3:] == ("term", "then", "count") and _filter_path(path[:-3])):
        return []
    then = el.getparent()
    term = then.getparent() if then is not None else None
    assert then is not None and term is not None
    filter_el = term.getparent()
    assert filter_el is not None
    seen = state.seen.setdefault(("count", (path[:-3], _name(filter_el))), {})
    if (el.text or "") in seen:
        return [_error(f"duplicate counter name {el.text}", then, el.text or "")]
    seen[el.text or ""] = _name(term)
    return []


_Rule = Callable[[_State, _Element, _Path], list[NetsimRpcError]]
_RULES: tuple[_Rule, ...] = (
    _filter_refs,
    _group_refs,
    _policy_refs,
    _prefix_list_refs,
    _policer_refs,
    _instance_interfaces,
    _vlan_ids,
    _counters,
)
