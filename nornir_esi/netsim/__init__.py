"""A Junos-like NETCONF-over-SSH router simulator for tests, demos and benchmarks.

Configuration as data (statement schema, text and ``set`` syntax, tree edits, diffs) lives
in :mod:`nornir_esi.junos`, shared with the product. The simulator's own modules:

- ``checks``: the commit checks Junos performs.
- ``device``: one router: datastores, locks, commits, confirmed-commit timers, rollbacks,
  faults and operational state; the segments that wire routers together.
- ``protocols``: what VRRP, routing and BGP make of the committed configurations of the
  routers of a segment (``show vrrp``, ``show route``, ``show bgp neighbor``).
- ``rpc``: NETCONF and Junos RPCs to device calls and reply XML.
- ``server``: the SSH transport (asyncssh), NETCONF framing and the :class:`Simulator`.
"""
