{{ config(tags=['tension']) }}
{#-
  The evidence behind a tension rating, per area × community type × month: incident volume against the
  area's own past (Poisson) or, without enough of it, against the rate of the same community type in the
  ward, LA or force around it; nudged by tension reports, as a suggested EEP grade next to the group's own
  grade. Never 'normal' for lack of history. The full rule is the docs block tension_evidence_method
  (tension_evidence.md).
-#}
{#- A rate is usable when it rests on 6 months, or on fewer (at least 1) holding at least 10 incidents:
    the area's own first, then a wider area's. -#}
{%- set min_own_months = 6 -%}
{%- set min_count = 10 -%}
{%- set own_usable -%}
    (baseline_months >= {{ min_own_months }} or (baseline_months >= 1 and baseline_count >= {{ min_count }}))
{%- endset -%}
{%- set level_name -%}
    case fallback_area_level when 'ward' then 'ward' when 'la' then 'local authority' when 'force' then 'police force' end
{%- endset -%}
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

lsoa21 as (
    select * from {{ ref('lsoa21_geography') }}
),

wards as (
    select * from {{ ref('ward') }}
),

local_authorities as (
    select * from {{ ref('local_authority') }}
),

police_forces as (
    select * from {{ ref('police_force') }}
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

-- the population measure: 2021 LSOAs in each area (a ward: those best-fitted to it). ONS builds LSOAs to
-- similar sizes, and the tension marts read only the geography seeds, not the Census build.
area_units as (
    select 'lsoa21' as area_level, lsoa21_code as area_code, any_value(lsoa21_name) as area_name, count(*) as lsoas
    from lsoa21 group by lsoa21_code
    union all
    select 'ward', w.ward_code, w.ward_name, count(g.lsoa21_code)
    from wards as w left join lsoa21 as g on w.ward_code = g.ward_code group by w.ward_code, w.ward_name
    union all
    select 'la', la.la_code, la.la_name, count(g.lsoa21_code)
    from local_authorities as la left join lsoa21 as g on la.la_code = g.la_code group by la.la_code, la.la_name
    union all
    select 'force', f.police_force_code, f.police_force_name, count(g.lsoa21_code)
    from police_forces as f left join lsoa21 as g on f.police_force_code = g.police_force_code
    group by f.police_force_code, f.police_force_name
),

-- the wider areas around each area, in the order they are tried: an LSOA's best-fit ward, then its LA,
-- then its force; a ward's LA, then its force; an LA's force
wider as (
    select 'lsoa21' as area_level, lsoa21_code as area_code, 'ward' as wider_level, ward_code as wider_code, 1 as wider_rank
    from lsoa21
    union all
    select 'lsoa21', lsoa21_code, 'la', la_code, 2 from lsoa21
    union all
    select 'lsoa21', g.lsoa21_code, 'force', la.police_force_code, 3
    from lsoa21 as g inner join local_authorities as la on g.la_code = la.la_code
    union all
    select 'ward', ward_code, 'la', la_code, 2 from wards
    union all
    select 'ward', w.ward_code, 'force', la.police_force_code, 3
    from wards as w inner join local_authorities as la on w.la_code = la.la_code
    union all
    select 'la', la_code, 'force', police_force_code, 3 from local_authorities
),

-- incidents counted at each level, summed over each wider area (an LSOA's ward rate counts the incidents
-- placed at the ward's LSOAs, as the LSOA's own count does)
wider_monthly as (
    select w.area_level, w.wider_level, w.wider_code, i.community_type, i.month, sum(i.incident_count) as incident_count
    from incident_counts as i
    inner join wider as w on i.area_level = w.area_level and i.area_code = w.area_code
    group by w.area_level, w.wider_level, w.wider_code, i.community_type, i.month
),

-- months whose own history is too thin: fewer than 6 months and fewer than 10 incidents in them
short as (
    select * from with_baseline where not {{ own_usable }}
),

-- every wider rate a month without its own history could use: first the wider area's own previous months
-- (the same months this area has), then the rest of the LA or force in the same month (this area left out)
fallback_candidates as (
    select
        s.area_level, s.area_code, s.community_type, s.month,
        w.wider_rank as preference,
        w.wider_level || '_rate' as baseline_source,
        w.wider_level as fallback_area_level,
        w.wider_code as fallback_area_code,
        u.area_name as fallback_area_name,
        coalesce(sum(m.incident_count), 0) as fallback_count,
        s.baseline_days as fallback_days,
        u.lsoas as fallback_lsoas
    from short as s
    inner join wider as w on s.area_level = w.area_level and s.area_code = w.area_code
    inner join area_units as u on w.wider_level = u.area_level and w.wider_code = u.area_code
    left join wider_monthly as m
        on s.area_level = m.area_level and w.wider_level = m.wider_level and w.wider_code = m.wider_code
        and s.community_type = m.community_type
        and m.month < s.month and m.month >= s.month - interval 12 month
    where s.baseline_months >= 1
    group by all
    union all
    select
        s.area_level, s.area_code, s.community_type, s.month,
        w.wider_rank + 2,
        w.wider_level || '_same_month',
        w.wider_level,
        w.wider_code,
        u.area_name,
        coalesce(m.incident_count, 0) - s.incident_count,
        s.days_in_month,
        u.lsoas - own.lsoas
    from short as s
    inner join wider as w on s.area_level = w.area_level and s.area_code = w.area_code
    inner join area_units as u on w.wider_level = u.area_level and w.wider_code = u.area_code
    inner join area_units as own on s.area_level = own.area_level and s.area_code = own.area_code
    left join wider_monthly as m
        on s.area_level = m.area_level and w.wider_level = m.wider_level and w.wider_code = m.wider_code
        and s.community_type = m.community_type and m.month = s.month
    where w.wider_level in ('la', 'force')
),

-- the first usable one: a rate resting on at least {{ min_count }} incidents, over some LSOAs, for
-- an area with LSOAs of its own
fallback as (
    select c.*
    from fallback_candidates as c
    inner join area_units as own on c.area_level = own.area_level and c.area_code = own.area_code
    where c.fallback_count >= {{ min_count }} and c.fallback_lsoas > 0 and own.lsoas > 0
    qualify row_number() over (
        partition by c.area_level, c.area_code, c.community_type, c.month order by c.preference
    ) = 1
),

expected as (
    select
        b.*,
        {{ own_usable }} as has_own_history,
        case
            when {{ own_usable }} then 'own_history'
            when f.baseline_source is not null then f.baseline_source
            else 'none'
        end as baseline_source,
        f.fallback_area_level,
        f.fallback_area_code,
        f.fallback_area_name,
        f.fallback_count,
        f.fallback_days,
        f.fallback_lsoas,
        u.lsoas as area_lsoas,
        case
            when {{ own_usable }}
                then (b.baseline_count + 0.5) / b.baseline_days * b.days_in_month
            when f.baseline_source is not null
                then f.fallback_count::double / (f.fallback_days * f.fallback_lsoas) * b.days_in_month * u.lsoas
        end as expected
    from with_baseline as b
    left join fallback as f
        on b.area_level = f.area_level and b.area_code = f.area_code
        and b.community_type = f.community_type and b.month = f.month
    left join area_units as u on b.area_level = u.area_level and b.area_code = u.area_code
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
            when expected is null then 'insufficient_history'
            when exceedance_p >= 0.05 then 'normal'
            when exceedance_p < 0.001 and incident_count >= 3 then 'substantially_raised'
            else 'raised'
        end as volume_level,
        -- why this baseline (or none): visible to the group next to the grade
        case
            when baseline_source = 'own_history'
                then format('own history: {} previous months, {} incidents', baseline_months, baseline_count)
            when baseline_source in ('ward_rate', 'la_rate', 'force_rate')
                then format(
                    'own history too thin ({} previous months, {} incidents): expected from the rate in the {} {} ({}) '
                    || 'over the same months, {} incidents across {} LSOAs',
                    baseline_months, baseline_count, {{ level_name }},
                    fallback_area_name, fallback_area_code, fallback_count, fallback_lsoas)
            when baseline_source in ('la_same_month', 'force_same_month')
                then format(
                    'no usable history ({} previous months, {} incidents): expected from the rest of the {} {} ({}) '
                    || 'in the same month, {} incidents across {} LSOAs',
                    baseline_months, baseline_count, {{ level_name }}, fallback_area_name, fallback_area_code,
                    fallback_count, fallback_lsoas)
            else format(
                'insufficient history: {} previous months, {} incidents, and no enclosing ward, local authority or '
                || 'police force with at least {} incidents to take a rate from, so no suggested grade',
                baseline_months, baseline_count, {{ min_count }})
        end as evidence_note
    from tested
),

nudged as (
    select
        *,
        case volume_level when 'normal' then 6 when 'raised' then 5 when 'substantially_raised' then 4 end as volume_grade,
        case
            when volume_level = 'insufficient_history' then null
            when tension_report_count >= 2 and tension_report_count > coalesce(baseline_report_mean, 0) then -1
            when tension_report_count = 0 and baseline_report_mean >= 1 and volume_level <> 'normal' then 1
            else 0
        end as report_nudge
    from volume
),

suggested as (
    select
        *,
        -- least/greatest skip nulls: no volume grade must stay no grade, not 3
        case when volume_grade is not null then least(6, greatest(3, volume_grade + report_nudge)) end as suggested_grade
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
    c.has_own_history::boolean as has_own_history,
    c.baseline_source::varchar as baseline_source,
    c.fallback_area_level::varchar as fallback_area_level,
    c.fallback_area_code::varchar as fallback_area_code,
    c.fallback_count::integer as fallback_count,
    c.fallback_days::integer as fallback_days,
    c.fallback_lsoas::integer as fallback_lsoas,
    c.area_lsoas::integer as area_lsoas,
    c.expected::double as expected,
    c.ratio::double as ratio,
    c.exceedance_p::double as exceedance_p,
    c.volume_level::varchar as volume_level,
    c.evidence_note::varchar as evidence_note,
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
