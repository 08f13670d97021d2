"""dbt-duckdb plugin: gives every dbt connection the exception engine's exact statistics
(``orchestration.lib.duckdb_functions``). Imported only inside the dbt process (profiles.yml ``plugins``)."""

from __future__ import annotations

from dbt.adapters.duckdb.plugins import BasePlugin

from orchestration.lib.duckdb_functions import register


class Plugin(BasePlugin):
    def configure_connection(self, conn):
        register(conn)
