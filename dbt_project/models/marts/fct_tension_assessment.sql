{{ config(tags=['tension']) }}
{#-
  The tension monitoring group's ratings (guide, Part 3), one row per area × community type × assessment
  date, on both scales, with the trend against the previous assessment and whether a Community Impact
  Assessment is required.

  - Scales: EEP 1 imminent … 6 normal (eep6) or high / medium / low / none (level4). Every row gets its
    four-level grade through the seed eep_grades; level4 rows have no EEP number (the four-level scale
    cannot tell 1 from 2 or 3 from 4).
  - Overall: when the group rated communities of an area on a date but gave no overall row, an overall
    row is derived: the highest tension among that area and date's rows, current and potential taken
    separately (overall_source = 'derived'). On one scale when all rows are eep6 (lowest EEP number),
    otherwise on level4 (highest four-level grade).
  - Trend (Part 3, Step 3: trend is against the previous assessment of the same community and area; the
    iCoCo arrows): ▲ tension higher than the previous assessment of the same area_code and
    community_type (a lower EEP number; when either side is level4, a better four-level rank), ▼ lower,
    ► the same, null when there is no previous assessment. Current and potential are compared separately.
  - is_cia_trigger: a grade of 1–4 (high or medium) on current or potential requires a CIA.
-#}
with assessments as (
    select * from {{ ref('stg_partner__tension_assessments') }}
),

areas as (
    select * from {{ ref('int_partner__area_levels') }}
),

eep as (
    select * from {{ ref('eep_grades') }}
),

community_types as (
    select * from {{ ref('community_types') }}
),

level4 as (
    select level4_code, bool_or(is_cia_trigger) as is_cia_trigger
    from eep
    group by level4_code
),

supplied as (
    select
        area_code,
        community_type,
        assessment_date,
        period_start,
        period_end,
        partner,
        scale,
        current_grade,
        potential_grade,
        rationale,
        assessed_by_role,
        file_id,
        sheet,
        row_number,
        'supplied' as overall_source
    from assessments
),

-- each supplied row's grades on both scales, for the derived overall row
graded_supplied as (
    select
        s.*,
        case when s.scale = 'eep6' then try_cast(s.current_grade as integer) end as current_eep,
        case when s.scale = 'eep6' then try_cast(s.potential_grade as integer) end as potential_eep,
        {{ level4_rank('coalesce(ce.level4_code, s.current_grade)') }} as current_rank,
        {{ level4_rank('coalesce(pe.level4_code, s.potential_grade)') }} as potential_rank
    from supplied as s
    left join eep as ce on s.scale = 'eep6' and try_cast(s.current_grade as integer) = ce.eep_grade
    left join eep as pe on s.scale = 'eep6' and try_cast(s.potential_grade as integer) = pe.eep_grade
),

derived_overall as (
    select
        area_code,
        'overall' as community_type,
        assessment_date,
        min(period_start) as period_start,
        max(period_end) as period_end,
        min(partner) as partner,
        case when bool_and(scale = 'eep6') then 'eep6' else 'level4' end as scale,
        case when bool_and(scale = 'eep6') then min(current_eep)::varchar
             else case min(current_rank) when 1 then 'high' when 2 then 'medium' when 3 then 'low' when 4 then 'none' end
        end as current_grade,
        case when bool_and(scale = 'eep6') then min(potential_eep)::varchar
             else case min(potential_rank) when 1 then 'high' when 2 then 'medium' when 3 then 'low' when 4 then 'none' end
        end as potential_grade,
        'Derived: the highest tension among the community rows ('
            || string_agg(community_type, ', ' order by community_type) || ')' as rationale,
        null as assessed_by_role,
        null as file_id,
        null as sheet,
        null as row_number,
        'derived' as overall_source
    from graded_supplied
    group by area_code, assessment_date
    having not bool_or(community_type = 'overall')
),

all_rows as (
    select * from supplied
    union all by name
    select * from derived_overall
),

graded as (
    select
        r.*,
        case when r.scale = 'eep6' then try_cast(r.current_grade as integer) end as current_eep_grade,
        case when r.scale = 'eep6' then try_cast(r.potential_grade as integer) end as potential_eep_grade,
        coalesce(ce.level4_code, case when r.scale = 'level4' then r.current_grade end) as current_level4,
        coalesce(pe.level4_code, case when r.scale = 'level4' then r.potential_grade end) as potential_level4,
        coalesce(ce.is_cia_trigger, cl.is_cia_trigger, false)
            or coalesce(pe.is_cia_trigger, pl.is_cia_trigger, false) as is_cia_trigger
    from all_rows as r
    left join eep as ce on r.scale = 'eep6' and try_cast(r.current_grade as integer) = ce.eep_grade
    left join eep as pe on r.scale = 'eep6' and try_cast(r.potential_grade as integer) = pe.eep_grade
    left join level4 as cl on r.scale = 'level4' and r.current_grade = cl.level4_code
    left join level4 as pl on r.scale = 'level4' and r.potential_grade = pl.level4_code
),

ranked as (
    select
        *,
        {{ level4_rank('current_level4') }} as current_level4_rank,
        {{ level4_rank('potential_level4') }} as potential_level4_rank
    from graded
),

with_previous as (
    select
        *,
        lag(assessment_date) over w as previous_assessment_date,
        lag(current_grade) over w as previous_current_grade,
        lag(potential_grade) over w as previous_potential_grade,
        lag(current_eep_grade) over w as previous_current_eep_grade,
        lag(potential_eep_grade) over w as previous_potential_eep_grade,
        lag(current_level4_rank) over w as previous_current_level4_rank,
        lag(potential_level4_rank) over w as previous_potential_level4_rank
    from ranked
    window w as (partition by area_code, community_type order by assessment_date)
),

-- a positive difference means tension is higher now than at the previous assessment
compared as (
    select
        *,
        case
            when previous_assessment_date is null then null
            when current_eep_grade is not null and previous_current_eep_grade is not null
                then sign(previous_current_eep_grade - current_eep_grade)
            else sign(previous_current_level4_rank - current_level4_rank)
        end as current_change,
        case
            when previous_assessment_date is null then null
            when potential_eep_grade is not null and previous_potential_eep_grade is not null
                then sign(previous_potential_eep_grade - potential_eep_grade)
            else sign(previous_potential_level4_rank - potential_level4_rank)
        end as potential_change
    from with_previous
)

select
    (c.area_code || ':' || c.community_type || ':' || strftime(c.assessment_date, '%Y-%m-%d'))::varchar as assessment_id,
    c.assessment_date::date as assessment_date,
    c.period_start::date as period_start,
    c.period_end::date as period_end,
    c.partner::varchar as partner,
    c.area_code::varchar as area_code,
    {{ partner_area_columns('a') }},
    c.community_type::varchar as community_type,
    ct.community_type_label::varchar as community_type_label,
    c.scale::varchar as scale,
    c.current_grade::varchar as current_grade,
    c.potential_grade::varchar as potential_grade,
    c.current_eep_grade::integer as current_eep_grade,
    c.potential_eep_grade::integer as potential_eep_grade,
    c.current_level4::varchar as current_level4,
    c.potential_level4::varchar as potential_level4,
    c.current_level4_rank::integer as current_level4_rank,
    c.potential_level4_rank::integer as potential_level4_rank,
    c.previous_assessment_date::date as previous_assessment_date,
    c.previous_current_grade::varchar as previous_current_grade,
    c.previous_potential_grade::varchar as previous_potential_grade,
    (case c.current_change when 1 then '▲' when -1 then '▼' when 0 then '►' end)::varchar as current_trend,
    (case c.current_change when 1 then 'rising' when -1 then 'falling' when 0 then 'static' end)::varchar as current_trend_label,
    (case c.potential_change when 1 then '▲' when -1 then '▼' when 0 then '►' end)::varchar as potential_trend,
    (case c.potential_change when 1 then 'rising' when -1 then 'falling' when 0 then 'static' end)::varchar as potential_trend_label,
    c.is_cia_trigger::boolean as is_cia_trigger,
    c.rationale::varchar as rationale,
    c.assessed_by_role::varchar as assessed_by_role,
    c.overall_source::varchar as overall_source,
    c.file_id::varchar as file_id,
    c.sheet::varchar as sheet,
    c.row_number::integer as row_number
from compared as c
left join areas as a on c.area_code = a.area_code
left join community_types as ct on c.community_type = ct.community_type
order by c.area_code, c.community_type, c.assessment_date
