"""Junos configuration as data: its schema, text forms, tree edits and diffs.

The statement schema, curly text and ``set`` commands to and from an XML tree, tree edits
with NETCONF and Junos load semantics, ``show | compare`` diffs, and what configuration
groups add where they are applied (``display inheritance``).

Used by the router simulator (``nornir_esi.netsim``) and by the product wherever it must
understand Junos configuration without a router: validating a service's ``vrf_config``,
comparing what a gateway should have with what a router runs.
"""
