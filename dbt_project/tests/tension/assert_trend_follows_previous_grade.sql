{{ config(tags=['tension'], meta={'dagster': {'ref': {'name': 'fct_tension_assessment'}}}) }}
-- Part 3, Step 3: the trend compares a grade with the previous assessment of the same area and community.
-- Recomputed here from the supplied grade texts: lower EEP number (or better four-level rank) = ▲.
with a as (
    select * from {{ ref('fct_tension_assessment') }}
),

prev as (
    select
        a.*,
        p.current_eep_grade as p_cur_eep,
        p.current_level4_rank as p_cur_rank
    from a
    left join a as p
        on a.area_code = p.area_code
        and a.community_type = p.community_type
        and p.assessment_date = a.previous_assessment_date
),

expected as (
    select
        assessment_id,
        current_trend,
        case
            when previous_assessment_date is null then null
            when current_eep_grade is not null and p_cur_eep is not null then
                case when current_eep_grade < p_cur_eep then '▲' when current_eep_grade > p_cur_eep then '▼' else '►' end
            else
                case when current_level4_rank < p_cur_rank then '▲' when current_level4_rank > p_cur_rank then '▼' else '►' end
        end as expected_trend,
        -- the previous assessment must be the latest earlier one
        previous_assessment_date = (
            select max(e.assessment_date) from a as e
            where e.area_code = prev.area_code and e.community_type = prev.community_type
              and e.assessment_date < prev.assessment_date
        ) or (previous_assessment_date is null and not exists (
            select 1 from a as e
            where e.area_code = prev.area_code and e.community_type = prev.community_type
              and e.assessment_date < prev.assessment_date
        )) as previous_is_latest
    from prev
)

select * from expected
where current_trend is distinct from expected_trend or not previous_is_latest
