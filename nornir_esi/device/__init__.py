"""One router, as the jobs reach it over NETCONF.

Its NETCONF sessions, the connection pool, host keys, the Nornir inventory, RPC calls and
the steps on its candidate configuration.
"""
