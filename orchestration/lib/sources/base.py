"""What every client returns, live or from a bundled snapshot: the rows and where they came from."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

import polars as pl

OGL = "Open Government Licence v3.0"


@dataclass
class Pull:
    """One pull of one dataset: the tidy rows plus the provenance raw.load_log records."""

    source: str  # nomis | statswales | police_uk | wimd | ons_els | ons_census ...
    dataset: str  # e.g. NM_162_1, popu1009, claimant-count, street_crimes/gwent
    locations: list[str]  # URLs fetched (live) or files read (snapshot), in order
    sha256: str  # of the raw bytes, concatenated in order: the content hash for "unchanged"
    frame: pl.DataFrame
    mode: str  # live | snapshot
    release: str | None = None  # release / vintage, e.g. "2024-06" or "WIMD 2019"
    licence: str = OGL
    pages: int = 1
    etag: str | None = None
    last_modified: str | None = None
    notes: list[str] = field(default_factory=list)  # e.g. "snapshot holds page 1 of 3 only"

    @property
    def location(self) -> str:
        return self.locations[0] if len(self.locations) == 1 else f"{self.locations[0]} (+{len(self.locations) - 1} more)"


def sha256_chunks(chunks: list[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def base_url(variable: str, default: str) -> str:
    """A service's base URL from its environment variable (so a mirror or test server can stand in)."""
    return os.environ.get(variable, default).rstrip("/")
