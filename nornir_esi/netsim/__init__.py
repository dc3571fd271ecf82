"""A Junos-like NETCONF-over-SSH router simulator for tests, demos and benchmarks.

Modules, from the bottom up:

- ``schema``: what kind each Junos statement is (container, list, leaf, flag, leaf-list).
- ``text``: curly-brace Junos text and ``set`` commands to and from the XML tree.
- ``tree``: edits of a configuration tree (NETCONF edit-config operations, Junos load actions,
  ``insert``), subtree filters.
- ``diff``: ``show | compare`` text between two trees.
- ``checks``: the commit checks Junos performs.
- ``device``: one router: datastores, locks, commits, confirmed-commit timers, rollbacks,
  faults and operational state.
- ``rpc``: NETCONF and Junos RPCs to device calls and reply XML.
- ``server``: the SSH transport (asyncssh), NETCONF framing and the :class:`Simulator`.
"""
