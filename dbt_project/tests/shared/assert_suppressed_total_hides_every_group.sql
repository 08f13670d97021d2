{{ config(tags=['tension', 'shared'], meta={'dagster': {'ref': {'name': 'shared_incident_summary'}}}) }}
-- Where the total ('all' row) of a local authority × quarter is suppressed, it is a primary suppression
-- (a total is never suppressed to protect a group row) and every group row is suppressed too.
with cells as (
    select * from {{ ref('shared_incident_summary') }}
)

select la_code, quarter,
    count(*) filter (where incident_group <> 'all' and not is_suppressed) as shown_group_rows,
    any_value(suppression) filter (where incident_group = 'all') as total_suppression
from cells
group by la_code, quarter
having bool_or(incident_group = 'all' and is_suppressed)
   and (count(*) filter (where incident_group <> 'all' and not is_suppressed) > 0
        or any_value(suppression) filter (where incident_group = 'all') <> 'primary')
