"""Data-quality suites (Great Expectations 1.x) for every dataset's metadata limits. No Dagster imports."""
