"""Bridge 2011 LSOA codes to 2021 codes (ONS exact-fit lookup, change codes U / S / M).

- U (unchanged) and M (several 2011 LSOAs merged into one 2021 LSOA) map to exactly one 2021 code,
  so a plain join on the lookup is exact; that happens in dbt.
- S (one 2011 LSOA split into several 2021 LSOAs) is ambiguous by code alone. police.uk rows carry
  the crime's snap point, so we place the point in the 2021 child polygon that contains it. When
  boundary generalisation leaves the point in no child (it sits within metres of an edge), the nearest
  child wins. The method is recorded per point so the choice stays visible downstream.
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shapely.geometry import Point
# shapely (and the numpy it brings) is imported where a point is resolved, not here: this module is imported by
# every process that loads the code location, most of which resolve nothing (~0.5 s of their start)

METHOD_IN_POLYGON = "point_in_child_polygon"
METHOD_NEAREST = "nearest_child_polygon"


@dataclass(frozen=True)
class SplitResolution:
    lsoa11_code: str
    longitude: float
    latitude: float
    lsoa21_code: str
    method: str
    distance_m: float  # 0 when inside the polygon


def load_split_children(exact_fit_csv: Path) -> dict[str, list[str]]:
    """{2011 parent code: [2021 child codes]} for the split (S) rows of the exact-fit lookup."""
    children: dict[str, list[str]] = defaultdict(list)
    with open(exact_fit_csv, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["change_code"] == "S":
                children[row["lsoa11_code"]].append(row["lsoa21_code"])
    return {k: sorted(v) for k, v in children.items()}


class SplitResolver:
    def __init__(self, exact_fit_csv: Path, lsoa21_geojson: Path):
        from shapely import make_valid
        from shapely.geometry import shape

        self.children = load_split_children(exact_fit_csv)
        wanted = {c for kids in self.children.values() for c in kids}
        with open(lsoa21_geojson, encoding="utf-8") as fh:
            features = json.load(fh)["features"]
        self.polygons = {
            # Some generalised ONS polygons self-intersect; make_valid keeps the area, fixes the rings.
            f["properties"]["LSOA21CD"]: make_valid(shape(f["geometry"]))
            for f in features
            if f["properties"]["LSOA21CD"] in wanted
        }
        missing = wanted - set(self.polygons)
        if missing:
            raise ValueError(f"{lsoa21_geojson.name}: no boundary for split children {sorted(missing)}")

    def is_split_parent(self, lsoa_code: str | None) -> bool:
        return lsoa_code in self.children

    def resolve(self, points: Iterable[tuple[str, float, float]]) -> list[SplitResolution]:
        """Resolve distinct (lsoa11_code, longitude, latitude) points of split parents."""
        from shapely.geometry import Point
        from shapely.strtree import STRtree

        out: list[SplitResolution] = []
        for code, lon, lat in sorted(set(points)):
            kids = self.children.get(code)
            if not kids:
                raise ValueError(f"{code} is not a split 2011 LSOA")
            point = Point(lon, lat)
            inside = [k for k in kids if self.polygons[k].covers(point)]
            if inside:
                out.append(SplitResolution(code, lon, lat, inside[0], METHOD_IN_POLYGON, 0.0))
                continue
            tree = STRtree([self.polygons[k] for k in kids])
            nearest = kids[int(tree.nearest(point))]
            out.append(
                SplitResolution(code, lon, lat, nearest, METHOD_NEAREST, _metres(point, self.polygons[nearest]))
            )
        return out


def _metres(point: Point, polygon) -> float:
    """Approximate distance in metres from a lon/lat point to a polygon (fine at these scales)."""
    from shapely.ops import nearest_points

    nearest = nearest_points(point, polygon)[1]
    dx = (nearest.x - point.x) * 111_320 * math.cos(math.radians(point.y))
    dy = (nearest.y - point.y) * 110_540
    return round(math.hypot(dx, dy), 1)
