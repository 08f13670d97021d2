{#-
  Crime groups (seed crime_groups) by area × calendar quarter, with the baseline the quarterly
  exception report tests against: the same area's previous four quarters (Part 2 of the guide:
  quarterly updates to the tension monitoring group, reported by exception).
  Exposure is measured in days, so a 90-day quarter is compared fairly with a 366-day baseline.

  Incremental by quarter (macros/incremental_months.sql): a month changes its quarter's counts and the
  baselines of the four quarters after it, so those five quarters are rebuilt, from their months and the
  four quarters before each.
-#}
{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='fail',
          pre_hook="{{ police_quarters_reset('quarter_start', after=4) }}") }}

with monthly as (
    select * from {{ ref('fct_crime_monthly') }}
    where {{ police_quarters_filter("date_trunc('quarter', month)::date", before=4, after=4) }}
),

members as (
    select * from {{ ref('crime_group_members') }}
),

quarterly as (
    select
        m.geography_level,
        m.area_code,
        any_value(m.area_name) as area_name,
        g.crime_group,
        date_trunc('quarter', m.month)::date as quarter_start,
        sum(m.crime_count) as crime_count,
        any_value(m.population_2021) as population_2021,
        count(distinct m.month) filter (where m.is_complete) as complete_months
    from monthly as m
    inner join members as g on m.crime_type = g.crime_type
    group by m.geography_level, m.area_code, g.crime_group, date_trunc('quarter', m.month)
),

with_days as (
    select
        *,
        year(quarter_start) * 4 + quarter(quarter_start) - 1 as quarter_index,
        (quarter_start + interval 3 month)::date - quarter_start as days_in_quarter
    from quarterly
),

with_baseline as (
    select
        *,
        sum(crime_count) over w as baseline_count,
        sum(days_in_quarter) over w as baseline_days,
        sum(complete_months) over w as baseline_complete_months,
        count(*) over w as baseline_quarters
    from with_days
    window w as (
        partition by geography_level, area_code, crime_group
        order by quarter_index
        range between 4 preceding and 1 preceding
    )
)

select
    geography_level::varchar as geography_level,
    area_code::varchar as area_code,
    area_name::varchar as area_name,
    crime_group::varchar as crime_group,
    quarter_start::date as quarter_start,
    (year(quarter_start)::varchar || ' Q' || quarter(quarter_start)::varchar)::varchar as quarter_label,
    crime_count::integer as crime_count,
    population_2021::integer as population_2021,
    complete_months::integer as complete_months,
    days_in_quarter::integer as days_in_quarter,
    coalesce(baseline_count, 0)::integer as baseline_count,
    coalesce(baseline_days, 0)::integer as baseline_days,
    coalesce(baseline_complete_months, 0)::integer as baseline_complete_months,
    coalesce(baseline_quarters, 0)::integer as baseline_quarters,
    (complete_months = 3 and coalesce(baseline_complete_months, 0) = 12)::boolean as is_testable
from with_baseline
where {{ police_quarters_filter('quarter_start', after=4) }}
order by geography_level, area_code, crime_group, quarter_start
