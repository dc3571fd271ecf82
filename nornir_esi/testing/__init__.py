"""The real servers tests, the demo and the bench start on loopback: etcd, Heat, NetBox, Keystone.

A module each, and the official clients of the real service (``clients``); ``base`` is what
their launchers share. Never imported by the engine.
"""
