{{ config(tags=['tension'], meta={'dagster': {'ref': {'name': 'fct_tension_evidence'}}}) }}
-- The overall rows of fct_tension_evidence at LA level count every incident once (every incident has an
-- LA), and the LSOA and ward rows count those that can be placed there.
with evidence as (
    select area_level, sum(incident_count) as counted, sum(hate_incident_count) as hate_counted
    from {{ ref('fct_tension_evidence') }}
    where community_type = 'overall'
    group by area_level
),

incidents as (
    select 'la' as area_level, count(*) as n, count(*) filter (where is_hate) as hate_n from {{ ref('fct_incident') }}
    union all
    select 'ward', count(*), count(*) filter (where is_hate) from {{ ref('fct_incident') }} where ward_code is not null
    union all
    select 'lsoa21', count(*), count(*) filter (where is_hate) from {{ ref('fct_incident') }} where lsoa21_code is not null
)

select i.area_level, i.n, e.counted, i.hate_n, e.hate_counted
from incidents as i
left join evidence as e on i.area_level = e.area_level
where coalesce(e.counted, 0) <> i.n or coalesce(e.hate_counted, 0) <> i.hate_n
