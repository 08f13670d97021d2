{{ config(tags=['tension', 'shared'], meta={'dagster': {'ref': {'name': 'shared_incident_summary'}}}) }}
-- Secondary suppression holds: no local authority × quarter whose total ('all' row) is shown has exactly one
-- suppressed group row (it could be worked out as the total minus the shown rows).
with cells as (
    select * from {{ ref('shared_incident_summary') }}
)

select
    la_code,
    quarter,
    count(*) filter (where incident_group <> 'all' and is_suppressed) as suppressed_group_rows
from cells
group by la_code, quarter
having bool_or(incident_group = 'all' and not is_suppressed)
   and count(*) filter (where incident_group <> 'all' and is_suppressed) = 1
