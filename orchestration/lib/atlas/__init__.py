"""The static, bilingual cohesion atlas (dashboards/atlas) and the annual cohesion profile documents: public
statistics only, built from the marts by ``build_atlas`` (site.py) and ``build_profile_documents``
(profile_doc.py). No Dagster imports: the asset in orchestration/defs/atlas.py wires them to the warehouse."""

from orchestration.lib.atlas.profile_doc import build_profile_documents
from orchestration.lib.atlas.site import build_atlas

__all__ = ["build_atlas", "build_profile_documents"]
