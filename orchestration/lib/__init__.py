"""Plain Python: parsers, warehouse access, statistics, report rendering. No Dagster imports."""
