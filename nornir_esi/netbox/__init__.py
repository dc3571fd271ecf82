"""NetBox as the source of truth and a front door.

The sync to ``/config`` (``sync``) and its reverse for a one-time move (``seed``), the
schema the mapping needs (``schema``), the webhook receiver (``webhook``), the custom
scripts' gateway requests (``gateways``, the scripts in ``scripts/``), the write-back of
``/state`` (``writeback``) and a Nornir inventory read from NetBox (``inventory``).
"""
