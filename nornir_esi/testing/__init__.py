"""The real servers tests, the demo and the bench start on loopback: etcd, Heat, NetBox,
and what their launchers share (``base``). Never imported by the engine."""
