"""The doors people come through.

They are the HTTP API, what status and jobs show, a workflow followed live, the audit
trail, and waiting for a state.
"""
