{{ config(tags=['tension'], meta={'dagster': {'ref': {'name': 'fct_tension_evidence'}}}) }}
-- A month without its own history takes a wider area's rate: the incidents counted at the row's own level in
-- that ward, LA or force over the previous months (…_rate), or in the same month with the row's own left out
-- (…_same_month). Recounted here from the mart's own rows, placed in their wider areas by the geography seeds.
with evidence as (
    select * from {{ ref('fct_tension_evidence') }}
),

lsoa21 as (
    select * from {{ ref('lsoa21_geography') }}
),

wards as (
    select * from {{ ref('ward') }}
),

local_authorities as (
    select * from {{ ref('local_authority') }}
),

placed as (
    select
        e.area_level,
        e.community_type,
        e.month,
        e.incident_count,
        g.ward_code,
        la.la_code,
        la.police_force_code
    from evidence as e
    left join lsoa21 as g on e.area_level = 'lsoa21' and e.area_code = g.lsoa21_code
    left join wards as w on e.area_level = 'ward' and e.area_code = w.ward_code
    left join local_authorities as la
        on la.la_code = coalesce(g.la_code, w.la_code, case when e.area_level = 'la' then e.area_code end)
),

recount as (
    select
        e.area_level,
        e.area_code,
        e.community_type,
        e.month,
        e.baseline_source,
        e.fallback_area_code,
        e.fallback_count,
        e.incident_count,
        coalesce(sum(p.incident_count) filter (where p.month < e.month), 0) as previous_months,
        coalesce(sum(p.incident_count) filter (where p.month = e.month), 0) as same_month
    from evidence as e
    left join placed as p
        on e.area_level = p.area_level
        and e.community_type = p.community_type
        and p.month >= e.month - interval 12 month
        and p.month <= e.month
        and e.fallback_area_code = case e.fallback_area_level
            when 'ward' then p.ward_code when 'la' then p.la_code when 'force' then p.police_force_code end
    where e.baseline_source not in ('own_history', 'none')
    group by e.area_level, e.area_code, e.community_type, e.month, e.baseline_source, e.fallback_area_code,
        e.fallback_count, e.incident_count
)

select *
from recount
where fallback_count <> case
    when baseline_source in ('ward_rate', 'la_rate', 'force_rate') then previous_months
    else same_month - incident_count
end
