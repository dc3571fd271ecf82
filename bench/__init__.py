"""The benchmarks and the soak, each run as ``python -m bench.<name>``; ``make bench`` runs perf.

Each writes its figures to ``bench/results/<name>.json``; the ``perf_*`` modules are the
sections of :mod:`bench.perf` and what they share.
"""
