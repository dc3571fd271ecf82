"""Where resources live: the resource graph (graph) and the Nornir inventory (nornir)."""
