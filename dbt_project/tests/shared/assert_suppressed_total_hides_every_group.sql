{{ config(tags=['tension', 'shared'], meta={'dagster': {'ref': {'name': 'int_shared__incident_suppression'}}}) }}
-- Where the total ('all' row) of a local authority × quarter is suppressed, every group row is suppressed too
-- (zeros included); and a total is suppressed only when it is from 1 to threshold − 1 (primary) or when every
-- non-zero group row is primary, so no row at or above the threshold was there to protect them (secondary).
with cells as (
    select * from {{ ref('int_shared__incident_suppression') }}
)

select
    la_code,
    quarter,
    count(*) filter (where not is_total and not is_suppressed) as shown_group_rows,
    any_value(suppression) filter (where is_total) as total_suppression
from cells
group by la_code, quarter
having bool_or(is_total and is_suppressed)
    and (count(*) filter (where not is_total and not is_suppressed) > 0
        or (bool_or(is_total and suppression = 'secondary')
            and bool_or(not is_total and true_count >= disclosure_threshold)))
