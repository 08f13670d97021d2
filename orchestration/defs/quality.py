"""Great Expectations suites (expectations/*.json) as Dagster asset checks.

One blocking check per suite on the asset the suite names. A failed *critical* expectation makes the
check fail with ERROR severity, so nothing downstream of that asset runs in the same run; a failed
*warning* (a reliability limit: below the minimum reliable geography, an interval too wide, a source past
its refresh date) fails with WARN and lets the run continue. Results go to marts.dq_results and the
Data Docs site under data/gx/. The GX work is in orchestration/lib/quality/.
"""

import json

import dagster as dg

from orchestration.defs.dbt import police_months_built
from orchestration.defs.resources import WAREHOUSE_POOL, WarehouseResource
from orchestration.lib.quality.suites import load_suites
from orchestration.lib.warehouse import connect, utc_now
from orchestration.settings import get_settings


def _table(rows: list[dict], limit: int = 25) -> str:
    lines = ["| severity | expectation | column | unexpected | limit | sample |", "|---|---|---|---|---|---|"]
    for r in rows[:limit]:
        sample = (r.get("sample") or r.get("observed_value") or "")[:160].replace("|", "/")
        lines.append(f"| {r['severity']} | {r['expectation']} | {r['column_name'] or ''} | "
                     f"{r['unexpected_count'] if r['unexpected_count'] is not None else ''} | "
                     f"{(r['why'] or '').replace('|', '/')} | {sample} |")
    if len(rows) > limit:
        lines.append(f"\n… and {len(rows) - limit} more in marts.dq_results")
    return "\n".join(lines)


def _make_check(suite_json: dict) -> dg.AssetChecksDefinition:
    meta = suite_json["meta"]
    name = f"gx_{suite_json['name']}"

    @dg.asset_check(
        asset=dg.AssetKey(meta["asset_key"]),
        name=name,
        description=f"Great Expectations suite expectations/{suite_json['name']}.json: {meta['description']}",
        blocking=True,
        pool=WAREHOUSE_POOL,
    )
    def _check(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        from orchestration.lib.quality.runner import record_results, run_suite

        from orchestration.lib.quality.runner import month_scope

        settings = get_settings()
        # only some police.uk months rebuilt (make run's plan, or the daemon's run after a police.uk load): a suite
        # scoped by month checks just their periods
        months = police_months_built(context.run.run_id)
        con = connect(warehouse.warehouse)
        try:
            scoped = month_scope(suite_json, months, con) is not None
            # the Data Docs site is rendered once after the run (data_docs_after_runs, build.build_all)
            outcome = run_suite(suite_json, con, settings.gx_dir, as_of=settings.as_of_date,
                                run_id=context.op_execution_context.run_id, now=utc_now(), update_docs=False,
                                months=months)
            record_results(con, outcome)
        finally:
            con.close()
        checked = max((r["element_count"] or 0 for r in outcome.rows), default=0)
        scope_note = (f" (rows checked: {checked:,}, the periods containing police.uk months {', '.join(months)}; "
                      "every other row is unchanged since this suite last passed)") if scoped else ""
        if scoped:
            context.log.info(f"{suite_json['name']}{scope_note}")
        failed = outcome.failed
        errors = [r for r in failed if r["severity"] == "error"]
        if failed:
            context.log.warning(f"{suite_json['name']}: {len(errors)} error and {len(failed) - len(errors)} warning "
                                f"expectation(s) failed: " + "; ".join(
                                    f"{r['expectation']}({r['column_name'] or ''}) {r['why'] or ''}" for r in failed[:5]))
        return dg.AssetCheckResult(
            passed=not failed,
            severity=dg.AssetCheckSeverity.ERROR if errors else dg.AssetCheckSeverity.WARN,
            description=(f"{len(failed)} of {len(outcome.rows)} expectations failed" if failed
                         else f"all {len(outcome.rows)} expectations passed") + scope_note,
            metadata={
                "expectations": len(outcome.rows),
                "rows_checked": checked,
                "scope": ("police.uk months " + ", ".join(months)) if scoped else "every row",
                "failed_errors": len(errors),
                "failed_warnings": len(failed) - len(errors),
                "failing_expectations": dg.MetadataValue.md(_table(failed) if failed else "None."),
                "sample_rows": dg.MetadataValue.json(
                    {f"{r['expectation']}({r['column_name'] or ''})": json.loads(r["sample"]) if r["sample"] else None
                     for r in failed[:10]}),
                "data_docs": dg.MetadataValue.path(str(outcome.docs_index or "")),
            },
        )

    return _check


gx_checks = [_make_check(suite) for suite in load_suites()]


def _render_docs_after(context, run) -> None:
    from orchestration.lib.quality.runner import build_docs

    checked = context.instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION, limit=1).records
    if checked:
        context.log.info(f"Data Docs rendered after run {run.run_id[:8]}: {build_docs(get_settings().gx_dir)}")


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, name="data_docs_after_runs",
                      default_status=dg.DefaultSensorStatus.RUNNING, monitor_all_code_locations=False,
                      description="Renders the Great Expectations Data Docs once after a run whose checks ran.")
def data_docs_after_runs(context: dg.RunStatusSensorContext):
    _render_docs_after(context, context.dagster_run)


@dg.run_failure_sensor(name="data_docs_after_failed_runs", default_status=dg.DefaultSensorStatus.RUNNING,
                       description="Renders the Data Docs after a failed run too: its failing checks are the news.")
def data_docs_after_failed_runs(context: dg.RunFailureSensorContext):
    _render_docs_after(context, context.dagster_run)
