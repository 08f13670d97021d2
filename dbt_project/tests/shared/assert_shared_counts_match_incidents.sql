{{ config(tags=['tension', 'shared'], meta={'dagster': {'ref': {'name': 'shared_incident_summary'}}}) }}
-- Every shown count equals the incidents of fct_incident it stands for, every local authority × quarter has
-- one row per group plus 'all', and the shown 'all' rows add up to every incident placed in a local authority.
with cells as (
    select * from {{ ref('shared_incident_summary') }}
),

incidents as (
    select i.la_code, {{ tension_quarter('i.occurred_on') }} as quarter, coalesce(g.incident_group, 'other') as incident_group
    from {{ ref('fct_incident') }} as i
    left join {{ ref('incident_groups') }} as g on i.incident_type = g.incident_type
    where i.la_code is not null
),

counted as (
    select la_code, quarter, incident_group, count(*) as n from incidents group by all
    union all
    select la_code, quarter, 'all', count(*) from incidents group by all
),

wrong_count as (
    select c.la_code, c.quarter, c.incident_group, c.incident_count, coalesce(n.n, 0) as expected
    from cells as c
    left join counted as n
        on c.la_code = n.la_code and c.quarter = n.quarter and c.incident_group = n.incident_group
    where not c.is_suppressed and c.incident_count <> coalesce(n.n, 0)
),

missing_cell as (
    select n.la_code, n.quarter, n.incident_group, null::integer, n.n
    from counted as n
    left join cells as c
        on c.la_code = n.la_code and c.quarter = n.quarter and c.incident_group = n.incident_group
    where c.la_code is null
),

wrong_shape as (
    select la_code, quarter, 'rows: ' || count(*), null::integer, null::bigint
    from cells
    group by la_code, quarter
    having count(*) <> 5 or count(distinct incident_group) <> 5
)

select * from wrong_count
union all
select * from missing_cell
union all
select * from wrong_shape
