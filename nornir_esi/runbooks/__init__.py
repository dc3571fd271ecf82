"""What the operators' Nornir runbooks (``tasks/``) share.

That is the fleet as etcd holds it (``fleet``), their inventory (``inventory``), and their
command line (``command``).
"""
