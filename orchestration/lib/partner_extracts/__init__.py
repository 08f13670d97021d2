"""Partner extracts (Part 3 of the guide): contracts, reading, validation, redaction, the restricted
store and the demo generator. Plain Python, no Dagster imports."""
