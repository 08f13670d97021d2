{{ config(tags=['tension', 'shared'], meta={'dagster': {'ref': {'name': 'int_shared__incident_suppression'}}}) }}
-- The conditions under which no hidden count of a line whose total is shown can be worked out (shared_tier.md):
-- at least two group rows are hidden, and either their true counts differ (a reader cannot tell which hidden
-- row holds which: swapping two of them publishes the same line) or they are all equal to one value from 2 to
-- threshold − 2 (moving one incident from one to another keeps both primary and publishes the same line).
with cells as (
    select * from {{ ref('int_shared__incident_suppression') }}
),

lines as (
    select
        la_code,
        quarter,
        any_value(disclosure_threshold) as threshold,
        count(*) filter (where not is_total and is_suppressed) as hidden_rows,
        min(true_count) filter (where not is_total and is_suppressed) as hidden_min,
        max(true_count) filter (where not is_total and is_suppressed) as hidden_max
    from cells
    group by la_code, quarter
    having bool_or(is_total and not is_suppressed)
)

select *
from lines
where hidden_rows = 1
    or (hidden_rows > 1 and hidden_min = hidden_max and not hidden_min between 2 and threshold - 2)
