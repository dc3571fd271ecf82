"""The real servers tests, the demo and the bench start on loopback: etcd, Heat, NetBox.

A module each; ``base`` is what their launchers share. Never imported by the engine.
"""
