"""Two routers as one transaction.

The change (``change``), the transaction (``transaction``), commit coalescing
(``coalesce``), and the routers as the jobs see them (``devices``).
"""
