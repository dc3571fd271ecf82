"""Heat: the protocol the handlers see (``base``), the embedded stand-in (``embedded``),
OpenStack Heat (``openstack``), and the choice between them (``factory``)."""
