"""2011 LSOAs that ONS split are resolved by the snap point against the 2021 child polygons."""

from __future__ import annotations

from orchestration.lib.lsoa_bridge import METHOD_IN_POLYGON, METHOD_NEAREST, SplitResolver
from orchestration.settings import SEEDS_DIR
from tests.independent import SNAPSHOTS


def resolver() -> SplitResolver:
    return SplitResolver(SEEDS_DIR / "geography" / "lsoa11_lsoa21_exact_fit.csv",
                         SNAPSHOTS / "boundaries" / "wales_lsoa21_bgc.geojson")


def test_point_inside_a_child_takes_that_child():
    r = resolver()
    # W01001644 (Newport) split into several 2021 LSOAs; take each child's interior point
    for child in r.children["W01001644"]:
        p = r.polygons[child].representative_point()
        (res,) = r.resolve([("W01001644", p.x, p.y)])
        assert (res.lsoa21_code, res.method, res.distance_m) == (child, METHOD_IN_POLYGON, 0.0)


def test_point_just_outside_every_child_takes_the_nearest():
    r = resolver()
    # a real snap point from the 2022 Gwent files that generalised boundaries leave 3 m outside
    (res,) = r.resolve([("W01001644", -2.972606, 51.584463)])
    assert res.method == METHOD_NEAREST and res.lsoa21_code in r.children["W01001644"]
    assert 0 < res.distance_m < 50


def test_every_split_parent_has_children_with_boundaries():
    r = resolver()
    assert len(r.children) == 27
    assert all(len(kids) >= 2 for kids in r.children.values())
