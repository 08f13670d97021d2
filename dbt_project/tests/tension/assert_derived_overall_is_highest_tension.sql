{{ config(tags=['tension'], meta={'dagster': {'ref': {'name': 'fct_tension_assessment'}}}) }}
-- A derived overall row exists exactly where the group rated communities of an area on a date without an
-- overall row, and carries the highest tension (best four-level rank) of those rows.
with a as (
    select * from {{ ref('fct_tension_assessment') }}
),

groups as (
    select
        area_code,
        assessment_date,
        bool_or(community_type = 'overall' and overall_source = 'supplied') as has_supplied_overall,
        min(current_level4_rank) filter (where community_type <> 'overall') as top_current_rank,
        min(potential_level4_rank) filter (where community_type <> 'overall') as top_potential_rank
    from a
    group by area_code, assessment_date
),

derived as (
    select * from a where overall_source = 'derived'
)

select g.area_code, g.assessment_date, d.assessment_id, g.top_current_rank, d.current_level4_rank
from groups as g
left join derived as d on g.area_code = d.area_code and g.assessment_date = d.assessment_date
where (g.has_supplied_overall and d.assessment_id is not null)
   or (not g.has_supplied_overall and d.assessment_id is null)
   or d.current_level4_rank <> g.top_current_rank
   or d.potential_level4_rank <> g.top_potential_rank
