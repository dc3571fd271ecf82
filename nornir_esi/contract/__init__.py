"""What etcd holds: keys, records, resource types and their validation, parameter mappings,
secrets, the one write path (``desired``) and typed ``/config`` reads."""
