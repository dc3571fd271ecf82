"""The job engine: the job manager (``manager``), the planner (``planner``), the worker
(``worker``)."""
