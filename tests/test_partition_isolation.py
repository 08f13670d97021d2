"""One failing partition must not stop the others of its source (single-run backfills of partitioned releases).

Live mode through the real Dagster assets, against a local server replaying the real payloads, recorded in a
real Dagster instance: the good partitions are loaded and shown materialized, only the failed one is shown
failed, logged as rejected in raw.load_log, named in the step's failure with its URL and reason, and its
table keeps its last good data.
"""

from __future__ import annotations

import json

import dagster as dg
import pytest

from orchestration.defs.raw_public import partitioned_assets
from orchestration.defs.resources import WarehouseResource
from orchestration.lib.datasets import ELS_SLUGS, STATSWALES_DATASETS
from orchestration.lib.sources import ons_els
from tests.fakeserver import Reply
from tests.independent import SNAPSHOTS
from tests.session_readers import query_warehouse as query

MATERIALIZED, FAILED = dg.AssetPartitionStatus.MATERIALIZED, dg.AssetPartitionStatus.FAILED
STATSWALES_KEYS = list(STATSWALES_DATASETS)  # popu1009, econ0080, envi0201, tran0152


def asset(key: str):
    return next(a for a in partitioned_assets if a.key.to_user_string() == key)


@pytest.fixture
def live(tmp_path):
    return WarehouseResource(warehouse_path=str(tmp_path / "warehouse.duckdb"), snapshots_dir=str(SNAPSHOTS),
                             reports_dir=str(tmp_path / "reports"), quarantine_dir=str(tmp_path / "q"), mode="live")


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:  # a real instance on disk (sqlite), as make run's
        yield instance


def run_all(a, live, instance):
    """Every partition of the asset in one run, as make run and the release schedules do."""
    keys = a.partitions_def.get_partition_keys()
    return dg.materialize([a], instance=instance, resources={"warehouse": live}, raise_on_error=False,
                          tags={"dagster/asset_partition_range_start": keys[0],
                                "dagster/asset_partition_range_end": keys[-1]})


def status(instance, a) -> dict:
    keys = a.partitions_def.get_partition_keys()
    return dict(instance.get_status_by_partition(a.key, keys, a.partitions_def))



def failure_of(result) -> dg.Failure:
    (event,) = result.get_step_failure_events()
    return event.step_failure_data


def one_page(dataset_id: str) -> bytes:
    """The recorded first page of a StatsWales dataset, as a last page (no nextLink)."""
    page = json.loads((SNAPSHOTS / "statswales" / f"statswales_odata_{dataset_id}.json").read_bytes())
    page.pop("odata.nextLink", None)
    return json.dumps(page).encode()


def serve_statswales(server, monkeypatch, **replies):
    monkeypatch.setenv("STATSWALES_API_URL", server.url("/en-gb/dataset"))
    for dataset_id in STATSWALES_KEYS:
        reply = replies.get(dataset_id) or Reply(200, body=one_page(dataset_id), content_type="application/json")
        server.route("GET", f"/en-gb/dataset/{dataset_id}", reply)


def test_a_404_on_one_statswales_dataset_loads_the_others_and_marks_only_it_failed(fake_server, live, instance,
                                                                                      monkeypatch):
    a = asset("raw/statswales")
    assert a.partitions_def.get_partition_keys() == STATSWALES_KEYS  # econ0080 is second: the rest come after it
    serve_statswales(fake_server, monkeypatch, econ0080=Reply(404, body="Not Found", content_type="text/plain"))

    result = run_all(a, live, instance)

    assert not result.success  # the run shows the problem (UI, make run)
    # the good datasets are in DuckDB, every row of their page
    for dataset_id, rows in (("popu1009", 1000), ("envi0201", 1000), ("tran0152", 442)):
        assert query(live, f"select count(*) from raw.statswales_{dataset_id}") == [(rows,)]
    assert query(live, "select count(*) from information_schema.tables where table_name = 'statswales_econ0080'") \
        == [(0,)]
    # raw.load_log: three loads and one rejection, naming the URL that failed
    log = {key: (outcome, mode, location, message) for key, outcome, mode, location, message in query(
        live, "select partition_key, outcome, mode, location, message from raw.load_log where source = 'statswales'")}
    assert {k: v[:2] for k, v in log.items()} == {"popu1009": ("loaded", "live"), "econ0080": ("rejected", "live"),
                                                 "envi0201": ("loaded", "live"), "tran0152": ("loaded", "live")}
    bad_url = fake_server.url("/en-gb/dataset/econ0080")
    assert log["econ0080"][2] == bad_url and "HTTP 404" in log["econ0080"][3]

    # Dagster: the loaded keys are materialized, only the failed key is failed
    assert status(instance, a) == {"popu1009": MATERIALIZED, "econ0080": FAILED, "envi0201": MATERIALIZED,
                                   "tran0152": MATERIALIZED}
    assert instance.get_materialized_partitions(a.key) == {"popu1009", "envi0201", "tran0152"}
    materialized = {e.event_specific_data.materialization.partition: e.event_specific_data.materialization
                    for e in result.get_asset_materialization_events()}
    assert set(materialized) == {"popu1009", "envi0201", "tran0152"}
    assert materialized["tran0152"].metadata["dagster/row_count"].value == 442  # each key with its own rows

    # the failure says what failed, where, and that the table kept its last good data
    failure = failure_of(result)
    message = failure.error.message
    assert "1 of 4 partition(s) failed" in message
    assert "econ0080: raw.statswales_econ0080 failed to load from " + bad_url in message
    assert "HTTP 404" in message and "raw.statswales_econ0080 kept its last good data for econ0080" in message
    assert "logged as rejected in raw.load_log" in message
    assert "popu1009, envi0201, tran0152" in message  # and which loaded
    assert failure.user_failure_data.metadata["failed_partitions"].value["econ0080"]["location"] == bad_url

    # Next run: econ0080 is back, popu1009 now serves an HTML error page. popu1009 keeps its rows and is the
    # one failed key; econ0080 loads; the unchanged ones are still materialized.
    serve_statswales(fake_server, monkeypatch, popu1009=Reply(
        200, body="<!DOCTYPE html><html><head><title>Service unavailable</title></head></html>",
        content_type="text/html"))
    result = run_all(a, live, instance)
    assert not result.success
    assert query(live, "select count(*) from raw.statswales_popu1009") == [(1000,)]
    assert query(live, "select count(*) from raw.statswales_econ0080") == [(1000,)]
    assert status(instance, a) == {"popu1009": FAILED, "econ0080": MATERIALIZED, "envi0201": MATERIALIZED,
                                   "tran0152": MATERIALIZED}
    message = failure_of(result).error.message
    assert "popu1009: raw.statswales_popu1009 failed to load from " + fake_server.url("/en-gb/dataset/popu1009") \
        in message and "HTML" in message and "kept its last good data for popu1009" in message
    latest = dict(query(live, "select partition_key, outcome from raw.load_log where source = 'statswales' "
                              "qualify row_number() over (partition by partition_key order by retrieved_at desc) = 1"))
    assert latest == {"popu1009": "rejected", "econ0080": "loaded", "envi0201": "unchanged", "tran0152": "unchanged"}

    # and when everything is served again, the whole run succeeds and every key is materialized
    serve_statswales(fake_server, monkeypatch)
    assert run_all(a, live, instance).success
    assert set(status(instance, a).values()) == {MATERIALIZED}


def test_a_404_on_the_first_ons_els_indicator_loads_the_other_twelve(fake_server, live, instance, monkeypatch):
    a = asset("raw/ons_els_indicators")
    assert a.partitions_def.get_partition_keys() == list(ELS_SLUGS) and len(ELS_SLUGS) == 13
    bad = ELS_SLUGS[0]  # claimant-count: before the fix, nothing after it was loaded
    monkeypatch.setenv(ons_els.DATA_URL_ENV, fake_server.url("/data"))
    monkeypatch.setenv(ons_els.METADATA_URL_ENV, fake_server.url("/meta"))
    expected = {}
    for slug in ELS_SLUGS:
        data, meta = ons_els.snapshot_paths(slug, SNAPSHOTS)
        fake_server.route("GET", f"/meta/{slug}/{slug}.csv-metadata.json", Reply(200, body=meta.read_bytes()))
        if slug == bad:
            fake_server.route("GET", f"/data/{slug}/{slug}.csv", Reply(404, body="Not Found", content_type="text/plain"))
        else:
            fake_server.route("GET", f"/data/{slug}/{slug}.csv", Reply(200, body=data.read_bytes(), content_type="text/csv"))
            # rows of the file inside the default area prefixes: independent of the client's parser
            lines = data.read_text(encoding="utf-8-sig").splitlines()[1:]
            expected[slug] = sum(1 for line in lines if line.strip() and line.startswith(ons_els.DEFAULT_AREA_PREFIXES))

    result = run_all(a, live, instance)

    assert not result.success
    loaded = dict(query(live, "select dataset, count(*) from raw.ons_els_indicators group by 1"))
    assert loaded == expected and len(loaded) == 12
    assert query(live, "select outcome, location from raw.load_log where source = 'ons_els' and partition_key = ?",
                 [bad]) == [("rejected", fake_server.url(f"/data/{bad}/{bad}.csv"))]
    statuses = status(instance, a)
    assert statuses[bad] == FAILED
    assert {k: v for k, v in statuses.items() if k != bad} == {slug: MATERIALIZED for slug in ELS_SLUGS[1:]}
    assert instance.get_materialized_partitions(a.key) == set(ELS_SLUGS[1:])
    message = failure_of(result).error.message
    assert "1 of 13 partition(s) failed" in message and f"{bad}: raw.ons_els_indicators failed to load from" in message
    assert f"kept its last good data for {bad}" in message


def test_when_every_partition_fails_the_step_fails_and_none_is_materialized(fake_server, live, instance, monkeypatch):
    a = asset("raw/statswales")
    monkeypatch.setenv("STATSWALES_API_URL", fake_server.url("/en-gb/dataset"))  # no routes: every dataset 404s

    result = run_all(a, live, instance)

    assert not result.success and result.get_asset_materialization_events() == []
    assert set(status(instance, a).values()) == {FAILED}
    assert instance.get_materialized_partitions(a.key) == set()
    assert sorted(k for k, in query(live, "select partition_key from raw.load_log where outcome = 'rejected'")) \
        == sorted(STATSWALES_KEYS)
    message = failure_of(result).error.message
    assert "4 of 4 partition(s) failed; none loaded" in message
    for dataset_id in STATSWALES_KEYS:
        assert f"{dataset_id}: raw.statswales_{dataset_id} failed to load from " \
               f"{fake_server.url('/en-gb/dataset/' + dataset_id)}: HTTP 404" in message
