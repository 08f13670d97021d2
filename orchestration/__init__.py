"""cohesion-monitor: the Dagster code location (``orchestration.definitions``).

Plain-Python modules live in ``orchestration.lib`` (no Dagster imports); Dagster wiring lives in
``orchestration.defs``.
"""
