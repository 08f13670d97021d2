"""Delivery to named officers, the emergency flash and failure notices, on real components: a copy of the
built warehouse and pack archive, a real SMTP server on localhost (aiosmtpd) that the tests read back, the
real partner intake and dbt for a dropped grade-2 file, and the Dagster sensors evaluated on a real instance."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import hashlib
import json
import re
import shutil
import socket
import time
from pathlib import Path

import pytest

from tests.independent import corrected_demo_ratings, restricted_texts
from orchestration.lib.delivery import (
    DistributionListError,
    SmtpSettings,
    deliver_flash,
    deliver_packs,
    notify_failure,
    read_distribution_list,
)

REPO = Path(__file__).resolve().parents[1]
DEMO_LIST = REPO / "docs" / "delivery" / "distribution_list.example.csv"
QUARTER = "2024-Q2"
RANK = {"summary": 0, "bronze": 1, "gold_silver": 2}


class Inbox:
    """A real SMTP server on a free localhost port; `messages` are the parsed messages it accepted."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.raw: list[bytes] = []
        inbox = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                inbox.raw.append(envelope.original_content or envelope.content)
                return "250 OK"

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def start(self):
        self.controller.start()

    def stop(self):
        self.controller.stop()

    @property
    def messages(self):
        return [email.message_from_bytes(r, policy=email.policy.default) for r in self.raw]

    def smtp(self, retries: int = 2) -> SmtpSettings:
        return SmtpSettings(host="127.0.0.1", port=self.port, user=None, password=None, starttls=False,
                            sender="cohesion-monitor@localhost", retries=retries, retry_wait=0.05, timeout=10)


@pytest.fixture
def inbox():
    box = Inbox()
    box.start()
    yield box
    box.stop()


@pytest.fixture
def copy(built, tmp_path):
    """A copy of the built warehouse and its pack archive (the tests write deliveries and new versions)."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(built["settings"].warehouse_path, warehouse)
    reports = tmp_path / "reports"
    shutil.copytree(built["settings"].reports_dir / QUARTER, reports / QUARTER)
    import duckdb

    con = duckdb.connect(str(warehouse))
    con.execute("drop table if exists reports.deliveries")  # the build's own run delivered to its outbox
    con.close()
    return {"warehouse": warehouse, "reports": reports, "outbox": tmp_path / "outbox"}


def _body(msg) -> str:
    parts = [p.get_content() for p in msg.walk() if p.get_content_type() in ("text/plain", "text/html")]
    return "\n".join(parts)


def _attachments(msg) -> list:
    return [p for p in msg.walk() if p.get_filename()]


# ---------------------------------------------------------------------------------------------- the list
def test_a_bad_distribution_list_names_file_row_and_column_but_no_value(tmp_path):
    rows = DEMO_LIST.read_text(encoding="utf-8").splitlines()
    bad = tmp_path / "list.csv"
    bad.write_text("\n".join([rows[0], rows[1].replace(",gold_silver,", ",platinum,")]) + "\n", encoding="utf-8")
    with pytest.raises(DistributionListError) as err:
        read_distribution_list(bad)
    assert str(err.value) == "list.csv, row 2, column tier: expected gold_silver, bronze or summary"
    bad.write_text("\n".join([rows[0], rows[1].replace("gold.officer@gwent-police.example.invalid", "gold officer")]) + "\n")
    with pytest.raises(DistributionListError, match=r"row 2, column email: expected one e-mail address") as err:
        read_distribution_list(bad)
    assert "gold officer" not in str(err.value)


# ---------------------------------------------------------------------------------------------- packs
def test_each_officer_gets_their_tier_and_language_once_over_real_smtp(copy, inbox):
    recipients = read_distribution_list(DEMO_LIST)
    results = deliver_packs(copy["warehouse"], copy["reports"], copy["outbox"], recipients, inbox.smtp())
    expected = {r.recipient_id: r for r in recipients if r.role != "data_team"}
    assert {r["recipient_id"] for r in results} == set(expected)
    assert all(r["status"] == "sent" and r["attempts"] == 1 for r in results)
    messages = inbox.messages
    assert len(messages) == len(expected)
    for msg in messages:
        recipient = next(r for r in recipients if r.email in str(msg["To"]))
        group = recipient.groups[0]
        manifest = json.loads((copy["reports"] / QUARTER / group / "manifest.json").read_text(encoding="utf-8"))
        version = manifest["versions"][-1]
        (attachment,) = _attachments(msg)
        # their tier and language, never a tier above theirs, the archived bytes
        assert attachment.get_filename() == f"pack-{QUARTER}-{group}-{recipient.tier}-{recipient.language}.pdf"
        entry = next(f for f in version["files"] if f["path"].endswith(attachment.get_filename()))
        assert RANK[entry["tier"]] <= RANK[recipient.tier] and entry["tier"] == recipient.tier
        assert hashlib.sha256(attachment.get_content()).hexdigest() == entry["sha256"]
        subject, body = str(msg["Subject"]), _body(msg)
        marking = {"gold_silver": ("OFFICIAL-SENSITIVE", "SWYDDOGOL-SENSITIF")}.get(recipient.tier, ("OFFICIAL", "SWYDDOGOL"))
        assert subject.startswith(f"[{marking[0 if recipient.language == 'en' else 1]}]")
        if recipient.language == "cy":
            assert "Pecyn monitro tensiynau" in subject and "Tension monitoring pack" not in subject + body
            assert "Penawdau" in body
        # no personal data: no officer's name in subject or body, nothing restricted from the pack
        assert recipient.name not in subject + body and recipient.email not in subject + body
        content = json.loads((copy["reports"] / QUARTER / group / version["content"]).read_text(encoding="utf-8"))
        flat = " ".join(body.split())
        for text in restricted_texts(content):
            assert " ".join(text.split())[:40] not in flat
        assert not re.search(r"W01\d{6}", body)
    # rerun: nothing new is sent
    again = deliver_packs(copy["warehouse"], copy["reports"], copy["outbox"], recipients, inbox.smtp())
    assert again == [] and len(inbox.raw) == len(expected)
    import duckdb

    con = duckdb.connect(str(copy["warehouse"]), read_only=True)
    rows = con.execute("select recipient_id, tier, language, status, attempts, sha256, version from reports.deliveries "
                       "where kind = 'pack' order by 1").fetchall()
    con.close()
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in rows] == sorted(
        (r.recipient_id, r.tier, r.language, "sent", 1) for r in expected.values())
    assert all(len(r[5]) == 64 for r in rows)
    assert all(Path(r["eml"]).stat().st_mode & 0o077 == 0 for r in results)


def test_a_new_version_goes_out_as_a_correction_saying_what_changed(copy, inbox):
    from orchestration.lib.pack.archive import archive_pack
    from orchestration.lib.pack.render import EngineRules

    recipients = read_distribution_list(DEMO_LIST)
    deliver_packs(copy["warehouse"], copy["reports"], copy["outbox"], recipients, inbox.smtp())
    first = len(inbox.raw)
    folder = copy["reports"] / QUARTER / "newport"
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    content = json.loads((folder / manifest["versions"][-1]["content"]).read_text(encoding="utf-8"))
    row = next(r for a in content["tension"]["areas"] for r in a["rows"] if r["community_type"] == "faith")
    row["current"] = {"scale": "eep6", "grade": "2", "eep": 2, "level4": "high"}
    done = archive_pack(content, copy["reports"], EngineRules(0.05, 10), pdf=True)
    assert done.is_new
    results = deliver_packs(copy["warehouse"], copy["reports"], copy["outbox"], recipients, inbox.smtp())
    # only Newport's two officers, as corrections; nobody else hears anything
    assert sorted((r["recipient_id"], r["kind"], r["version"]) for r in results) == [
        ("newport-bronze", "correction", done.version), ("newport-silver-cy", "correction", done.version)]
    new = inbox.messages[first:]
    subjects = sorted(str(m["Subject"]) for m in new)
    assert subjects[0].startswith("[OFFICIAL] Correction: Tension monitoring pack: Newport")
    assert subjects[1].startswith("[SWYDDOGOL-SENSITIF] Cywiriad: Pecyn monitro tensiynau: Casnewydd")
    english = next(m for m in new if "Correction" in str(m["Subject"]))
    assert "replaces version" in _body(english) and "Tension summary grades changed: 1" in _body(english)


def test_an_smtp_server_that_is_down_is_retried_then_sent_on_the_next_run(copy):
    recipients = [r for r in read_distribution_list(DEMO_LIST) if r.recipient_id == "newport-bronze"]
    box = Inbox()  # not started yet: the port refuses connections
    results = deliver_packs(copy["warehouse"], copy["reports"], copy["outbox"], recipients, box.smtp(retries=3))
    (failed,) = results
    assert failed["status"] == "failed" and failed["attempts"] == 3 and "ConnectionRefusedError" in failed["error"]
    assert Path(failed["eml"]).exists()  # the message is in the outbox meanwhile
    box.start()
    try:
        (sent,) = deliver_packs(copy["warehouse"], copy["reports"], copy["outbox"], recipients, box.smtp())
    finally:
        box.stop()
    assert sent["status"] == "sent" and sent["attempts"] == 4 and len(box.raw) == 1


def test_without_smtp_the_messages_are_written_to_the_outbox(copy):
    recipients = read_distribution_list(DEMO_LIST)
    none = SmtpSettings(host=None, port=25, user=None, password=None, starttls=False, sender="cm@localhost",
                        retries=1, retry_wait=0, timeout=1)
    results = deliver_packs(copy["warehouse"], copy["reports"], copy["outbox"], recipients, none)
    assert results and all(r["status"] == "outbox" for r in results)
    for r in results:
        msg = email.message_from_bytes(Path(r["eml"]).read_bytes(), policy=email.policy.default)
        assert _attachments(msg)[0].get_filename().endswith(f"-{r['tier']}-{r['language']}.pdf")
    assert deliver_packs(copy["warehouse"], copy["reports"], copy["outbox"], recipients, none) == []


# ---------------------------------------------------------------------------------------------- the flash
def test_a_grade_2_file_yields_a_flash_to_gold_within_minutes_and_only_once(copy, inbox, tmp_path):
    import duckdb

    from orchestration.lib.partner_extracts.store import ingest_file
    from tests.dbt_build import dbt_build

    recipients = read_distribution_list(DEMO_LIST)
    # what the build already flashed (the demo's open high risk) is not flashed again
    before = deliver_flash(copy["warehouse"], copy["reports"], copy["outbox"], recipients, inbox.smtp())
    assert before["items"] == 0 and not inbox.raw

    started = time.monotonic()
    dropped = corrected_demo_ratings(tmp_path, "W06000020", "faith", current_grade="2",
                                     rationale="Threats made against the mosque after a Facebook post by Mr Jones")
    con = duckdb.connect(str(copy["warehouse"]))
    try:
        assert ingest_file(dropped, "tension_assessments", con, tmp_path / "restricted",
                           dt.datetime(2024, 6, 20, 9, 0)).outcome == "accepted"
    finally:
        con.close()
    dbt_build(copy["warehouse"], "stg_partner__tension_assessments+", tmp_path)
    result = deliver_flash(copy["warehouse"], copy["reports"], copy["outbox"], recipients, inbox.smtp())
    elapsed = time.monotonic() - started
    assert elapsed < 300, elapsed  # minutes, not a quarter
    assert result["items"] == 1
    # Torfaen is covered by the Gwent Gold officer's group; the Newport and Torfaen lower tiers get nothing
    assert sorted(d["recipient_id"] for d in result["deliveries"]) == ["gwent-police-gold"]
    (msg,) = inbox.messages
    assert str(msg["Subject"]).startswith("[OFFICIAL-SENSITIVE] Emergency flash to Gold: Torfaen")
    body = _body(msg)
    assert "Faith or religious: current 2 High" in " ".join(body.split())
    assert "Jones" not in body and "Mr [name]" not in body  # the rationale stays in the PDF, redacted
    (pdf,) = _attachments(msg)
    from pypdf import PdfReader
    import io

    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.get_content())).pages)
    assert "OFFICIAL-SENSITIVE" in text and "Torfaen" in text and "Mr [name]" in text and "Jones" not in text
    again = deliver_flash(copy["warehouse"], copy["reports"], copy["outbox"], recipients, inbox.smtp())
    assert again["items"] == 0 and len(inbox.raw) == 1


# ---------------------------------------------------------------------------------------------- failures
def test_a_failed_run_reaches_the_data_team_without_partner_data(tmp_path, inbox):
    recipients = read_distribution_list(DEMO_LIST)
    sent = notify_failure(tmp_path / "outbox", recipients, inbox.smtp(), job="police_uk_monthly_ingest",
                          run_id="0123456789abcdef", failed_steps=["raw__police_uk_street_crimes"],
                          error_classes=["HTTPError"])
    assert [s["recipient_id"] for s in sent] == ["cohesion-data-team"] and sent[0]["status"] == "sent"
    (msg,) = inbox.messages
    assert str(msg["Subject"]) == "Cohesion monitor: run failed: police_uk_monthly_ingest"
    body = _body(msg)
    assert "raw__police_uk_street_crimes" in body and "HTTPError" in body and "last good data is kept" in body


# ---------------------------------------------------------------------------------------------- Dagster sensors
def _run_with_failure_event(instance, job):
    import dagster as dg

    result = job.execute_in_process(instance=instance, raise_on_error=False)
    run = instance.get_run_by_id(result.run_id)
    (event,) = [e.dagster_event for e in instance.all_logs(result.run_id)
                if e.dagster_event and e.dagster_event.event_type in (dg.DagsterEventType.RUN_FAILURE,
                                                                      dg.DagsterEventType.RUN_SUCCESS)]
    return run, event


def test_the_run_failure_sensor_tells_the_data_team(tmp_path, monkeypatch):
    import dagster as dg

    from orchestration.defs.delivery import failures_to_data_team

    monkeypatch.setenv("COHESION_OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("COHESION_DISTRIBUTION_LIST", str(DEMO_LIST))
    monkeypatch.delenv("COHESION_SMTP_HOST", raising=False)

    @dg.op
    def load_statswales():
        raise ConnectionError("statswales.gov.wales refused the connection")

    @dg.job
    def load_releases():
        load_statswales()

    instance = dg.DagsterInstance.ephemeral()
    run, event = _run_with_failure_event(instance, load_releases)
    context = dg.build_run_status_sensor_context(
        sensor_name="failures_to_data_team", dagster_event=event, dagster_instance=instance, dagster_run=run,
    ).for_run_failure()
    failures_to_data_team(context)
    (eml,) = (tmp_path / "outbox").rglob("*.eml")
    msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert "data.team@cohesion.example.invalid" in str(msg["To"])
    body = _body(msg)
    assert "load_releases" in str(msg["Subject"]) and "load_statswales" in body and "ConnectionError" in body
    assert "refused the connection" not in body  # error classes only: messages may quote data


def test_the_pack_sensor_recomputes_exactly_the_quarters_a_partner_file_changed(tmp_path, monkeypatch):
    import dagster as dg

    from orchestration.defs.delivery import packs_after_partner_files
    from orchestration.defs.reports import pack_quarters

    @dg.op
    def ingest(context):
        context.log_event(dg.AssetMaterialization(
            asset_key=["raw", "partner_files"], metadata={"periods_changed": "2023-11-01/2023-12-31"}))

    @dg.job
    def partner_run():
        ingest()

    monkeypatch.setenv("COHESION_REPORTS_DIR", str(tmp_path / "reports"))
    for archived in ("2023-Q2", "2024-Q1"):
        (tmp_path / "reports" / archived).mkdir(parents=True)
    instance = dg.DagsterInstance.ephemeral()
    run, event = _run_with_failure_event(instance, partner_run)
    context = dg.build_run_status_sensor_context(
        sensor_name="packs_after_partner_files", dagster_event=event, dagster_instance=instance, dagster_run=run)
    requests = packs_after_partner_files(context)
    # of the file's quarter and the four after it (their baselines include it), up to the demo's last quarter
    # (2023-Q4 ... 2024-Q2): those with packs, and the current one; 2023-Q4 never had a pack
    assert [r.partition_key for r in requests] == ["2024-Q1", "2024-Q2"]
    assert all(isinstance(r, dg.RunRequest) for r in requests)
    assert set(instance.get_dynamic_partitions(pack_quarters.name)) >= {"2024-Q1", "2024-Q2"}


def test_after_a_daemon_warehouse_build_the_current_and_archived_quarters_are_recomputed(tmp_path, monkeypatch):
    import dagster as dg

    from orchestration.definitions import defs

    monkeypatch.setenv("COHESION_REPORTS_DIR", str(tmp_path / "reports"))
    (tmp_path / "reports" / "2023-Q4").mkdir(parents=True)

    @dg.op
    def build():
        pass

    @dg.job
    def warehouse_build():
        build()

    instance = dg.DagsterInstance.ephemeral()
    run, event = _run_with_failure_event(instance, warehouse_build)
    sensor = defs.resolve_sensor_def("packs_after_warehouse_build")
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED  # live mode only; make run does it in-process
    requests = sensor(dg.build_run_status_sensor_context(
        sensor_name=sensor.name, dagster_event=event, dagster_instance=instance, dagster_run=run))
    assert [r.partition_key for r in requests] == ["2023-Q4", "2024-Q2"]  # archived + the demo's current quarter

    # a warehouse_build that `make run` ran: it renders the packs itself; a daemon beside it must not again
    from orchestration.defs.runs import RUN_TAG

    @dg.job(name="warehouse_build", tags={RUN_TAG: "make-run"})
    def make_runs_build():
        build()

    run, event = _run_with_failure_event(instance, make_runs_build)
    skipped = sensor(dg.build_run_status_sensor_context(
        sensor_name=sensor.name, dagster_event=event, dagster_instance=instance, dagster_run=run))
    assert isinstance(skipped, dg.SkipReason) and "make run renders the packs itself" in skipped.skip_message


def test_after_a_police_month_loads_only_what_depends_on_it_is_rebuilt():
    import dagster as dg

    from orchestration.definitions import defs

    @dg.op
    def load(context):
        context.log_event(dg.AssetMaterialization(asset_key=["raw", "police_uk_street_crimes"], partition="2024-06"))

    @dg.job
    def police_uk_monthly_ingest():
        load()

    instance = dg.DagsterInstance.ephemeral()
    run, event = _run_with_failure_event(instance, police_uk_monthly_ingest)
    sensor = defs.resolve_sensor_def("rebuild_after_public_loads")
    request = sensor(dg.build_run_status_sensor_context(
        sensor_name=sensor.name, dagster_event=event, dagster_instance=instance, dagster_run=run))
    keys = {k.to_user_string() for k in request.asset_selection}
    assert {"staging/stg_police_uk__street_crimes", "marts/fct_crime_monthly", "marts/fct_crime_exception",
            "reports/crime_exception_report"} <= keys
    # only police.uk months loaded: the run says which, so dbt rebuilds those months alone (defs/dbt.py)
    assert request.tags["cohesion/police_months"] == "2024-06"
    # nothing upstream or beside it: no raw load, no partner or Census models, no tension marts
    assert not {k for k in keys if k.startswith("raw/")}
    # nor the atlas: it renders in its own run, beside the packs (atlas_after_warehouse_build)
    assert "reports/cohesion_atlas" not in keys
    assert "marts/fct_tension_assessment" not in keys and "staging/stg_census2021__population_lsoa21" not in keys

    # `make run`'s own loads: it rebuilds downstream itself, so the daemon's sensors (whole or partial) leave them
    from orchestration.defs.runs import RUN_TAG

    @dg.op
    def load_then_fail(context):
        context.log_event(dg.AssetMaterialization(asset_key=["raw", "police_uk_street_crimes"], partition="2024-06"))
        raise RuntimeError("a later month failed")

    for name, body in (("rebuild_after_public_loads", load), ("rebuild_after_partial_public_loads", load_then_fail)):
        @dg.job(name="police_uk_monthly_ingest", tags={RUN_TAG: "make-run"})
        def make_runs_ingest():
            body()

        run, event = _run_with_failure_event(instance, make_runs_ingest)
        sensor = defs.resolve_sensor_def(name)
        context = dg.build_run_status_sensor_context(
            sensor_name=sensor.name, dagster_event=event, dagster_instance=instance, dagster_run=run)
        skipped = sensor(context.for_run_failure() if body is load_then_fail else context)
        assert isinstance(skipped, dg.SkipReason) and "make run rebuilds" in skipped.skip_message, name


def test_the_atlas_renders_in_its_own_run_after_a_warehouse_build_that_changed_its_inputs():
    """The atlas is not in warehouse_build (minutes of profile PDFs held back the end of that run and so the packs):
    a sensor starts atlas_refresh (at background priority) after a warehouse_build that rebuilt a mart the atlas
    reads, on by default in both modes; not after one that rebuilt none (the tension marts, say), nor after make run's (it renders the atlas
    itself, after the packs)."""
    import dagster as dg

    from orchestration.definitions import defs
    from orchestration.defs.atlas import BACKGROUND_TAG
    from orchestration.defs.delivery import CHAIN_SENSOR_SECONDS
    from orchestration.defs.runs import RUN_TAG

    build = defs.resolve_job_def("warehouse_build").asset_layer.selected_asset_keys
    assert dg.AssetKey(["reports", "cohesion_atlas"]) not in build
    assert dg.AssetKey(["reports", "crime_exception_report"]) in build
    assert set(defs.resolve_job_def("atlas_refresh").asset_layer.selected_asset_keys) == {
        dg.AssetKey(["reports", "cohesion_atlas"])}
    sensor = defs.resolve_sensor_def("atlas_after_warehouse_build")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == CHAIN_SENSOR_SECONDS

    def after(mart: str, tags: dict | None = None):
        @dg.op
        def build_op(context):
            context.log_event(dg.AssetMaterialization(asset_key=["marts", mart]))

        @dg.job(tags=tags or {})
        def warehouse_build():
            build_op()

        instance = dg.DagsterInstance.ephemeral()
        run, event = _run_with_failure_event(instance, warehouse_build)
        return sensor(dg.build_run_status_sensor_context(
            sensor_name=sensor.name, dagster_event=event, dagster_instance=instance, dagster_run=run)), run

    request, run = after("fct_indicator_value")
    assert isinstance(request, dg.RunRequest) and request.run_key == f"atlas-after-{run.run_id}"
    assert request.tags[BACKGROUND_TAG] == "1"  # renders at nice 19: the packs beside it come first
    skipped, _run = after("fct_tension_assessment")
    assert isinstance(skipped, dg.SkipReason) and "none of the marts the atlas reads" in skipped.skip_message
    skipped, _run = after("fct_indicator_value", {RUN_TAG: "make-run"})
    assert isinstance(skipped, dg.SkipReason) and "make run renders the atlas itself" in skipped.skip_message


def test_the_catch_up_for_unbuilt_police_months_waits_for_the_chain():
    """build_police_months_not_built leaves the chain's own runs to act first: it waits while a police.uk load or a
    warehouse build is queued or running, for a minute after one ended (its success sensor starts the next link),
    and while a failed one waits for Dagster's retry; runs of other jobs do not hold it back. A real instance."""
    import time

    import dagster as dg

    from orchestration.defs.delivery import CHAIN_SETTLE_SECONDS, _chain_busy

    jobs = {"police_uk_monthly_ingest", "warehouse_build"}
    with dg.instance_for_test() as instance:
        assert _chain_busy(instance, jobs) == ""
        instance.add_run(dg.DagsterRun(job_name="partner_extracts_ingest", run_id="1" * 32,
                                       status=dg.DagsterRunStatus.STARTED))
        assert _chain_busy(instance, jobs) == ""
        build = instance.add_run(dg.DagsterRun(job_name="warehouse_build", run_id="2" * 32,
                                               status=dg.DagsterRunStatus.STARTED))
        assert "warehouse_build run 22222222 is under way" == _chain_busy(instance, jobs)
        instance.report_run_failed(build, message="killed")
        record = instance.get_run_record_by_id(build.run_id)
        assert record.end_time and time.time() - record.end_time < CHAIN_SETTLE_SECONDS
        assert f"ended under {CHAIN_SETTLE_SECONDS} s ago" in _chain_busy(instance, jobs)
        instance.add_run(dg.DagsterRun(job_name="police_uk_monthly_ingest", run_id="3" * 32,
                                       status=dg.DagsterRunStatus.FAILURE, tags={"dagster/will_retry": "true"}))
        assert "police_uk_monthly_ingest run 33333333 failed and is about to be retried" == _chain_busy(instance, jobs)
