"""The leading process's periodic round: drift of every settled resource, and forwarding.

:class:`DriftChecker` runs in ``nornir-esi run`` (``--drift-interval``) while its job
manager leads: each round checks every settled resource for drift
(:func:`nornir_esi.services.operations.check_all`) and refreshes what each gateway forwards
(:func:`nornir_esi.services.forwarding.refresh_all`).
"""

from __future__ import annotations

import logging
import threading

from nornir_esi.exceptions import EsiError
from nornir_esi.heat.base import Heat
from nornir_esi.pair.devices import NornirDevices
from nornir_esi.services import forwarding
from nornir_esi.services.operations import check_all
from nornir_esi.store.base import Store

__all__ = ["DriftChecker"]

log = logging.getLogger(__name__)


class DriftChecker:
    """Checks every settled resource each ``interval`` seconds, while this process leads.

    ``leading`` says this process's job manager leads, so one process checks, not all. Each
    round also refreshes what gateways forward (:func:`nornir_esi.services.forwarding.refresh`:
    a VRRP failover shows in the gw_interface's ``/monitoring``).
    """

    def __init__(
        self,
        store: Store,
        devices: NornirDevices,
        interval: float,
        leading: threading.Event,
        heat: Heat | None = None,
    ) -> None:
        self.store = store
        self.devices = devices
        self.heat = heat
        self.interval = interval
        self.leading = leading
        self.rounds = 0

    def run(self, stop: threading.Event) -> None:
        """Check every settled resource each ``interval`` seconds while leading, until ``stop``.

        Drift found is logged as a warning, and so is a round that failed; ``rounds`` counts the
        rounds done.
        """
        while not stop.wait(self.interval):
            if not self.leading.is_set():
                continue
            try:
                drifts = check_all(self.store, self.devices, self.heat)
                found = [f"{t} {rid}" for (t, rid), drift in drifts.items() if drift.found]
                forwarding.refresh_all(self.store, self.devices)
            except EsiError as exc:
                log.warning("drift check round failed: %s", exc)
                continue
            self.rounds += 1
            if found:
                log.warning("drift found on %s", ", ".join(found))
