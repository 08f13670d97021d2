{{ config(tags=['tension']) }}
{#-
  The evidence behind a tension rating, per area × community type × month: incident volume against the
  area's own past (Poisson), nudged by tension reports, as a suggested EEP grade next to the group's own
  grade. The full rule is the docs block tension_evidence_method (tension_evidence.md).
-#}
with incidents as (
    select * from {{ ref('fct_incident') }}
),

reports as (
    select * from {{ ref('fct_tension_report') }}
),

assessments as (
    select * from {{ ref('fct_tension_assessment') }}
),

eep as (
    select * from {{ ref('eep_grades') }}
),

community_types as (
    select * from {{ ref('community_types') }}
),

bounds as (
    select min(month) as first_month, max(month) as last_month from incidents
),

months as (
    select
        m::date as month,
        last_day(m::date) as month_end,
        (last_day(m::date) - m::date + 1)::integer as days_in_month
    from bounds, unnest(generate_series(first_month, last_month, interval 1 month)) as t(m)
),

-- each event once per level it counts at: an LSOA's incident at its LSOA, ward and LA; a ward's at the
-- ward and LA; an LA's at the LA (a split 2011 LSOA whose children straddle wards: LA only)
incident_places as (
    select 'lsoa21' as area_level, lsoa21_code as area_code, lsoa21_name as area_name, la_code, la_name,
        police_force_code, month, community_type_derived, is_hate
    from incidents where lsoa21_code is not null
    union all
    select 'ward', ward_code, ward_name, la_code, la_name, police_force_code, month, community_type_derived, is_hate
    from incidents where ward_code is not null
    union all
    select 'la', la_code, la_name, la_code, la_name, police_force_code, month, community_type_derived, is_hate
    from incidents where la_code is not null
),

report_places as (
    select 'lsoa21' as area_level, lsoa21_code as area_code, lsoa21_name as area_name, la_code, la_name,
        police_force_code, month, community_types
    from reports where lsoa21_code is not null
    union all
    select 'ward', ward_code, ward_name, la_code, la_name, police_force_code, month, community_types
    from reports where ward_code is not null
    union all
    select 'la', la_code, la_name, la_code, la_name, police_force_code, month, community_types
    from reports where la_code is not null
),

-- each incident in its derived community type's row and in the overall row
incident_counts as (
    select area_level, area_code, community_type, month,
        count(*) as incident_count,
        count(*) filter (where is_hate) as hate_incident_count
    from (
        select *, community_type_derived as community_type from incident_places where community_type_derived is not null
        union all
        select *, 'overall' from incident_places
    )
    group by area_level, area_code, community_type, month
),

-- each report in the row of every community type it names and in the overall row
report_counts as (
    select area_level, area_code, community_type, month, count(*) as tension_report_count
    from (
        select p.area_level, p.area_code, c.community_type, p.month
        from report_places as p, unnest(list_distinct(p.community_types)) as c(community_type)
        union all
        select area_level, area_code, 'overall', month from report_places
    )
    where month between (select first_month from bounds) and (select last_month from bounds)
    group by area_level, area_code, community_type, month
),

area_names as (
    select area_level, area_code, any_value(area_name) as area_name, any_value(la_code) as la_code,
        any_value(la_name) as la_name, any_value(police_force_code) as police_force_code
    from (
        select area_level, area_code, area_name, la_code, la_name, police_force_code from incident_places
        union all
        select area_level, area_code, area_name, la_code, la_name, police_force_code from report_places
    )
    group by area_level, area_code
),

-- only areas (and community types) with at least one incident or report in the window
series as (
    select area_level, area_code, community_type from incident_counts
    union
    select area_level, area_code, community_type from report_counts
),

grid as (
    select
        s.area_level,
        s.area_code,
        s.community_type,
        m.month,
        m.month_end,
        m.days_in_month,
        coalesce(i.incident_count, 0) as incident_count,
        coalesce(i.hate_incident_count, 0) as hate_incident_count,
        coalesce(r.tension_report_count, 0) as tension_report_count
    from series as s
    cross join months as m
    left join incident_counts as i
        on s.area_level = i.area_level and s.area_code = i.area_code
        and s.community_type = i.community_type and m.month = i.month
    left join report_counts as r
        on s.area_level = r.area_level and s.area_code = r.area_code
        and s.community_type = r.community_type and m.month = r.month
),

-- the baseline: the same area's previous (up to) 12 months inside the window
with_baseline as (
    select
        *,
        count(*) over w as baseline_months,
        coalesce(sum(incident_count) over w, 0) as baseline_count,
        coalesce(sum(days_in_month) over w, 0) as baseline_days,
        case when count(*) over w > 0
            then sum(tension_report_count) over w / count(*) over w
        end as baseline_report_mean
    from grid
    window w as (
        partition by area_level, area_code, community_type
        order by month
        rows between 12 preceding and 1 preceding
    )
),

expected as (
    select
        *,
        case when baseline_months >= 6
            then (baseline_count + 0.5) / baseline_days * days_in_month
        end as expected
    from with_baseline
),

tested as (
    select
        *,
        incident_count / expected as ratio,
        {{ poisson_upper_tail('incident_count', 'expected') }} as exceedance_p
    from expected
),

volume as (
    select
        *,
        case
            when exceedance_p is null or exceedance_p >= 0.05 then 'normal'
            when exceedance_p < 0.001 and incident_count >= 3 then 'substantially_raised'
            else 'raised'
        end as volume_level
    from tested
),

nudged as (
    select
        *,
        case volume_level when 'normal' then 6 when 'raised' then 5 when 'substantially_raised' then 4 end as volume_grade,
        case
            when tension_report_count >= 2 and tension_report_count > coalesce(baseline_report_mean, 0) then -1
            when tension_report_count = 0 and baseline_report_mean >= 1 and volume_level <> 'normal' then 1
            else 0
        end as report_nudge
    from volume
),

suggested as (
    select
        *,
        least(6, greatest(3, volume_grade + report_nudge)) as suggested_grade
    from nudged
),

-- the group's grade in force at the end of the month: its latest assessment of that exact area code and
-- community type made by then
group_grade as (
    select
        s.area_level,
        s.area_code,
        s.community_type,
        s.month,
        a.assessment_id,
        a.assessment_date,
        coalesce(a.current_eep_grade, {{ level4_to_eep('a.current_level4') }}) as group_current_grade
    from suggested as s
    inner join assessments as a
        on s.area_code = a.area_code
        and s.community_type = a.community_type
        and a.period_start <= s.month_end
        and a.assessment_date <= s.month_end
    qualify row_number() over (
        partition by s.area_level, s.area_code, s.community_type, s.month
        order by a.assessment_date desc, a.period_start desc
    ) = 1
),

compared as (
    select
        s.*,
        g.assessment_id as group_assessment_id,
        g.assessment_date as group_assessment_date,
        g.group_current_grade,
        g.group_current_grade - s.suggested_grade as grade_gap
    from suggested as s
    left join group_grade as g
        on s.area_level = g.area_level and s.area_code = g.area_code
        and s.community_type = g.community_type and s.month = g.month
)

select
    c.area_level::varchar as area_level,
    c.area_code::varchar as area_code,
    n.area_name::varchar as area_name,
    n.la_code::varchar as la_code,
    n.la_name::varchar as la_name,
    n.police_force_code::varchar as police_force_code,
    c.community_type::varchar as community_type,
    ct.community_type_label::varchar as community_type_label,
    c.month::date as month,
    c.days_in_month::integer as days_in_month,
    c.incident_count::integer as incident_count,
    c.hate_incident_count::integer as hate_incident_count,
    c.tension_report_count::integer as tension_report_count,
    c.baseline_months::integer as baseline_months,
    c.baseline_count::integer as baseline_count,
    c.baseline_days::integer as baseline_days,
    c.baseline_report_mean::double as baseline_report_mean,
    c.expected::double as expected,
    c.ratio::double as ratio,
    c.exceedance_p::double as exceedance_p,
    c.volume_level::varchar as volume_level,
    c.volume_grade::integer as volume_grade,
    c.report_nudge::integer as report_nudge,
    c.suggested_grade::integer as suggested_grade,
    e.level4_code::varchar as suggested_level4,
    c.group_assessment_id::varchar as group_assessment_id,
    c.group_assessment_date::date as group_assessment_date,
    c.group_current_grade::integer as group_current_grade,
    c.grade_gap::integer as grade_gap,
    coalesce(abs(c.grade_gap) >= 2, false)::boolean as disagrees,
    (case
        when c.grade_gap >= 2 then 'group rates lower tension than the evidence'
        when c.grade_gap <= -2 then 'group rates higher tension than the evidence'
    end)::varchar as disagreement
from compared as c
left join area_names as n on c.area_level = n.area_level and c.area_code = n.area_code
left join eep as e on c.suggested_grade = e.eep_grade
left join community_types as ct on c.community_type = ct.community_type
order by c.area_level, c.area_code, c.community_type, c.month
