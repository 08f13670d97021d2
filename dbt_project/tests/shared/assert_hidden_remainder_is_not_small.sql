{{ config(tags=['tension', 'shared'], meta={'dagster': {'ref': {'name': 'shared_incident_summary'}}}) }}
-- Secondary suppression, seen from what is published: in every local authority × quarter whose total ('all'
-- row) is shown, the hidden group rows are none, or at least two whose combined count - the total minus the
-- shown rows, which any reader can work out - is at least the threshold and more than their number (zeros
-- are shown when the total is, so each hidden row holds at least 1: a remainder equal to their number would
-- make every one of them 1).
with cells as (
    select * from {{ ref('shared_incident_summary') }}
),

lines as (
    select
        la_code,
        quarter,
        any_value(disclosure_threshold) as threshold,
        count(*) filter (where incident_group <> 'all' and is_suppressed) as hidden_rows,
        any_value(incident_count) filter (where incident_group = 'all')
            - coalesce(sum(incident_count) filter (where incident_group <> 'all'), 0) as hidden_remainder
    from cells
    group by la_code, quarter
    having bool_or(incident_group = 'all' and not is_suppressed)
)

select *
from lines
where hidden_rows > 0
    and (hidden_rows < 2 or hidden_remainder < threshold or hidden_remainder <= hidden_rows)
