"""The job engine: the job manager (``manager``), planner (``planner``) and worker (``worker``)."""
