"""The doors people come through: the HTTP API, what status and jobs show, a workflow
followed live, the audit trail, waiting for a state."""
