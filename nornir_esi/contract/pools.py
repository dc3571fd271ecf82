"""Public IP pools: the allocation state the service keeps, and blocks taken and given back.

A ``public_ip_pool`` is the operator's block (``subnet_ip``/``submask_length``, e.g.
203.0.112.0/23) for one HA router and internet service. A ``public_ip`` asks for a block of
``submask_length`` from a pool of its gateway's HA router and internet service; the service
picks the lowest free block aligned on its size, writes ``cidr`` (the network address, as
the origin wrote it) and ``ip_pool_id`` into the public IP, and the pool's new state into
the pool, in the same etcd transaction (:func:`nornir_esi.contract.desired.apply`): two
allocations that read the same pool version cannot both commit, so blocks never overlap.
A public IP's block goes back to its pool when the public IP is really deleted (its
``DELETE_COMPLETED``, :func:`release`): until then its routers may still carry it.

``pool_state`` encoding (the origin's gohan bitmap is not published, so this one is ours):
base64 (RFC 4648, padded) of a bitmap with one bit per address of the pool, address order,
most significant bit first in each byte; 1 is allocated. A /23 is 512 bits, 64 bytes, 88
base64 characters; an empty state (``""``) is a pool with nothing allocated.
``addresses_available`` is the count of 0 bits.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Mapping
from typing import Any

from nornir_esi.contract import keys
from nornir_esi.contract.records import ConfigRecord
from nornir_esi.exceptions import ValidationError
from nornir_esi.store.base import Compare, Op, Store

__all__ = [
    "MAX_POOL_PREFIX",
    "Bitmap",
    "allocate",
    "block_of",
    "fresh_state",
    "release",
    "release_block",
]

# The largest pool: /16, 65,536 addresses, an 8 KiB bitmap in each pool version.
MAX_POOL_PREFIX = 16


class Bitmap:
    """The allocation bitmap of a pool: one bit per address, 1 = allocated."""

    def __init__(self, size: int, data: bytes | None = None) -> None:
        self.size = size
        self.bits = bytearray(data if data is not None else bytes((size + 7) // 8))

    @classmethod
    def decode(cls, obj: str, size: int, text: str) -> Bitmap:
        """The bitmap in ``pool_state`` ``text`` of a pool of ``size`` addresses."""
        if not text:
            return cls(size)
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValidationError(obj, "pool_state", "is not base64") from exc
        if len(data) != (size + 7) // 8:
            raise ValidationError(
                obj,
                "pool_state",
                f"holds {len(data)} bytes, not the {(size + 7) // 8} of a pool of {size} "
                "addresses (it is kept by the service: leave it out)",
            )
        return cls(size, data)

    def encode(self) -> str:
        """``pool_state`` text of this bitmap."""
        return base64.b64encode(bytes(self.bits)).decode("ascii")

    def taken(self, index: int) -> bool:
        """Whether the address at ``index`` is allocated."""
        return bool(self.bits[index >> 3] & (0x80 >> (index & 7)))

    def mark(self, start: int, count: int, value: bool) -> None:
        """Set ``count`` addresses from ``start`` allocated (``value``) or free."""
        for index in range(start, start + count):
            if value:
                self.bits[index >> 3] |= 0x80 >> (index & 7)
            else:
                self.bits[index >> 3] &= ~(0x80 >> (index & 7)) & 0xFF

    def free_run(self, start: int, count: int) -> bool:
        """Whether every address of ``start`` .. ``start + count - 1`` is free."""
        return not any(self.taken(i) for i in range(start, start + count))

    def available(self) -> int:
        """How many addresses are free."""
        return self.size - sum(bin(byte).count("1") for byte in self.bits)


def _state(bitmap: Bitmap) -> dict[str, Any]:
    return {"pool_state": bitmap.encode(), "addresses_available": bitmap.available()}


def _network(obj: str, pool: Mapping[str, Any]) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(f"{pool['subnet_ip']}/{pool['submask_length']}")
    except (KeyError, ValueError) as exc:
        raise ValidationError(
            obj, "subnet_ip", f"{pool.get('subnet_ip')}/{pool.get('submask_length')} is no network"
        ) from exc


def fresh_state(obj: str, pool: Mapping[str, Any]) -> dict[str, Any]:
    """``pool_state`` and ``addresses_available`` of a pool: kept when valid, else empty.

    A ``pool_state`` that does not fit the pool is a ValidationError naming it.
    """
    network = _network(obj, pool)
    if network.prefixlen < MAX_POOL_PREFIX:
        raise ValidationError(
            obj,
            "submask_length",
            f"{network.prefixlen} is a pool larger than /{MAX_POOL_PREFIX}, the largest served",
        )
    bitmap = Bitmap.decode(obj, network.num_addresses, str(pool.get("pool_state") or ""))
    return _state(bitmap)


def block_of(public_ip: Mapping[str, Any]) -> ipaddress.IPv4Network:
    """The block of an allocated public IP (``cidr``/``submask_length``)."""
    return ipaddress.IPv4Network(f"{public_ip['cidr']}/{public_ip['submask_length']}")


def allocate(
    obj: str, pool: Mapping[str, Any], prefix: int, *, wanted: str = ""
) -> tuple[str, dict[str, Any]] | None:
    """A free block of ``prefix`` from ``pool``: its network address and the pool's new state.

    ``wanted``: that block's network address, which must be free; else the lowest free one,
    aligned on its size. None when the pool has no room.
    """
    network = _network(obj, pool)
    if prefix < network.prefixlen:
        return None
    bitmap = Bitmap.decode(obj, network.num_addresses, str(pool.get("pool_state") or ""))
    size = 2 ** (32 - prefix)
    if wanted:
        block = ipaddress.IPv4Network(f"{wanted}/{prefix}", strict=False)
        if str(block.network_address) != wanted or not block.subnet_of(network):
            raise ValidationError(
                obj, "cidr", f"{wanted}/{prefix} is not a block of the pool {network}"
            )
        starts = [int(block.network_address) - int(network.network_address)]
    else:
        starts = list(range(0, network.num_addresses, size))
    for start in starts:
        if bitmap.free_run(start, size):
            bitmap.mark(start, size, True)
            address = str(network.network_address + start)
            return address, _state(bitmap)
    return None


def release(store: Store, public_ip: Mapping[str, Any]) -> tuple[list[Compare], list[Op]]:
    """What gives a deleted public IP's block back: its pool's next version, in a transaction.

    The compare holds the pool as read; nothing when the public IP has no block or its pool
    is gone.
    """
    pool_id = public_ip.get("ip_pool_id")
    if not public_ip.get("cidr") or not isinstance(pool_id, str):
        return [], []
    key = keys.config("public_ip_pool", pool_id)
    entry = store.get(key)
    if entry is None:
        return [], []
    record = ConfigRecord.from_value(entry.value)
    body = {**record.body, **release_block(record.body, public_ip)}
    new = ConfigRecord(body=body, version=record.version + 1, marked_for_deletion=False)
    return [Compare.unchanged_since(key, entry.mod_revision)], [Op.put(key, new.to_json())]


def release_block(pool: Mapping[str, Any], public_ip: Mapping[str, Any]) -> dict[str, Any]:
    """The pool's state once the block of ``public_ip`` is free again."""
    obj = f"public_ip_pool {pool.get('id', '?')}"
    network = _network(obj, pool)
    bitmap = Bitmap.decode(obj, network.num_addresses, str(pool.get("pool_state") or ""))
    block = block_of(public_ip)
    if block.subnet_of(network):
        start = int(block.network_address) - int(network.network_address)
        bitmap.mark(start, block.num_addresses, False)
    return _state(bitmap)
