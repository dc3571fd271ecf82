"""``Service.start`` writes the shipped heat-template records only where none is stored."""

from __future__ import annotations

import json

from nornir_esi.contract import keys
from nornir_esi.contract.records import shipped_heat_templates
from nornir_esi.service import Service
from nornir_esi.store.base import Store
from tests.origin import strict, template_records


def _stored(store: Store) -> dict[str, tuple[str, int]]:
    """Template key -> (value, mod_revision) as stored."""
    return {e.key: (e.value, e.mod_revision) for e in store.get_prefix(keys.HEAT_TEMPLATES_PREFIX)}


def _start_and_stop(store: Store) -> None:
    with Service(store, workers=1, manager_lease_ttl=5, worker_lease_ttl=5):
        pass


def test_an_empty_etcd_gets_the_shipped_records_and_they_are_the_origins(store: Store) -> None:
    _start_and_stop(store)
    stored = _stored(store)
    shipped = shipped_heat_templates()
    assert sorted(stored) == sorted(keys.heat_template(i) for i in shipped)
    assert len(stored) == 10  # the chain's six templates and the family's four
    origin = template_records()
    for template_id, record in shipped.items():
        value = json.loads(stored[keys.heat_template(template_id)][0])
        assert strict(value) == strict(json.loads(record.to_json())), template_id
        # The shipped data is the origin's record, value for value (the family's are checked
        # against the origin's in tests/test_records.py).
        if template_id in origin:
            assert strict(value) == strict(origin[template_id]["value"]), template_id


def test_a_stored_record_survives_a_restart_and_a_missing_one_comes_back(store: Store) -> None:
    _start_and_stop(store)
    changed_key = keys.heat_template("internet_gateway_monitoring")
    removed_key = keys.heat_template("edge_router_monitoring")
    value = json.loads(store.get(changed_key).value)  # type: ignore[union-attr]
    value["body"]["template_file"] = "operator's own template\n"
    value["version"] = value.get("version", 1) + 1
    store.put(changed_key, json.dumps(value))
    store.delete(removed_key)
    before = _stored(store)

    _start_and_stop(store)

    after = _stored(store)
    # Kept as the operator left it: same value, not even rewritten (same revision).
    assert after[changed_key] == before[changed_key]
    assert json.loads(after[changed_key][0])["body"]["template_file"] == "operator's own template\n"
    # Written again, as shipped.
    shipped = shipped_heat_templates()["edge_router_monitoring"]
    assert strict(json.loads(after[removed_key][0])) == strict(json.loads(shipped.to_json()))
    # The others untouched.
    for key, entry in before.items():
        assert after[key] == entry, key
