"""The etcd contract: what etcd holds, and how it is validated, written and read.

Keys, records, resource types and their validation, parameter mappings, secrets, the one
write path (``desired``) and typed ``/config`` reads.
"""
