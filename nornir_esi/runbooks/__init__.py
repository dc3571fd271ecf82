"""What the operators' Nornir runbooks (``tasks/``) share: the fleet as etcd holds it
(``fleet``), their inventory (``inventory``), their command line (``command``)."""
