"""Heat: the protocol, the embedded stand-in, OpenStack Heat, and the choice between them.

The protocol the handlers see is in ``base``, the embedded stand-in in ``embedded``,
OpenStack Heat in ``openstack``, and the choice between them in ``factory``.
"""
