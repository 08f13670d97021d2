{#-
  Numerator and denominator of every count-based indicator per 2021 LSOA and period, the input that
  fct_indicator_value sums to every higher level. value_kind says how a value and its CI are made:
  'proportion' (percent, Wilson), 'rate' (per 1,000 person-years, exact Garwood limits from
  cm_poisson_lower_limit / cm_poisson_upper_limit: macros/confidence_intervals.sql), 'area_share' (percent
  of LSOAs; a complete count of areas, so no CI).

  2011-LSOA data (small-area population estimates) is bridged with the ONS exact-fit lookup:
  unchanged LSOAs as they are; merged ones sum their 2011 parents (exact); a split 2011 LSOA's counts
  are shared among its 2021 children in proportion to the children's Census 2021 population
  (status 'estimated': higher levels stay exact because children nest in their parent's LA).

  Incremental by quarter (macros/incremental_months.sql): a police.uk month changes only its own quarter's
  crime rows, so a build of new months rebuilds those quarters' crime rows and keeps every other row.
-#}
{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='fail',
          pre_hook="{{ police_quarters_reset('period_start', police_indicators=true) }}") }}

with census_age as (
    select lsoa21_code, age_band, usual_residents from {{ ref('stg_census2021__population_lsoa21') }}
),

population as (
    select lsoa21_code, population_2021 from {{ ref('int_population__lsoa21') }}
),

census_period as (
    select date '2021-03-21' as period_start, date '2021-03-21' as period_end, 'Census 2021' as period_label,
           'Census 2021 (ONS)' as source_release
),

age as (
    select
        'pct_aged_' || case age_band when 'aged_0_15' then '0_15' when 'aged_16_24' then '16_24'
                                     when 'aged_65_plus' then '65_plus' else '25_64' end as indicator_id,
        c.lsoa21_code,
        sum(c.usual_residents) as numerator
    from census_age as c
    group by 1, 2
),

age_rows as (
    select a.indicator_id, a.lsoa21_code, a.numerator, p.population_2021 as denominator
    from age as a inner join population as p using (lsoa21_code)
),

topic as (
    select 'pct_ethnic_minority' as indicator_id, area_code as lsoa21_code,
           sum(n) filter (where category <> 'White') as numerator, any_value(total) as denominator
    from {{ source('raw', 'census2021_ethnicity_lsoa21') }} group by area_code
    union all
    select 'pct_minority_religion', area_code,
           sum(n) filter (where category in ('Buddhist', 'Hindu', 'Jewish', 'Muslim', 'Sikh', 'Other religion')),
           any_value(total)
    from {{ source('raw', 'census2021_religion_lsoa21') }} group by area_code
    union all
    select 'pct_social_rented', area_code,
           sum(n) filter (where category like 'Social rented:%'), any_value(total)
    from {{ source('raw', 'census2021_tenure_lsoa21') }} group by area_code
    union all
    select 'pct_household_deprived_1plus_dimensions', area_code,
           sum(n) filter (where category <> 'Household is not deprived in any dimension'), any_value(total)
    from {{ source('raw', 'census2021_household_deprivation_lsoa21') }} group by area_code
    union all
    select 'pct_disabled_equality_act', area_code,
           sum(n) filter (where category = 'Disabled under the Equality Act'), any_value(total)
    from {{ source('raw', 'census2021_disability_lsoa21') }} group by area_code
),

census_rows as (
    select indicator_id, lsoa21_code, numerator::double as numerator, denominator::double as denominator,
           'proportion' as value_kind, 'actual' as status, cp.*
    from (select * from age_rows union all select * from topic) as t
    cross join census_period as cp
),

-- ONS small-area population estimates (2011 LSOAs), bridged to 2021 LSOAs
lookup as (
    select * from {{ ref('lsoa11_lsoa21_exact_fit') }}
),

child_share as (
    select l.lsoa11_code, l.lsoa21_code, l.change_code,
           case when l.change_code = 'S'
                then p.population_2021::double / sum(p.population_2021) over (partition by l.lsoa11_code)
                else 1.0 end as share
    from lookup as l inner join population as p on l.lsoa21_code = p.lsoa21_code
),

sape as (
    select lsoa11_code, year::integer as year, all_ages, aged_0_15, aged_16_24, aged_25_64, aged_65_plus
    from {{ source('raw', 'sape_lsoa11_broad_age') }}
),

sape_long as (
    select lsoa11_code, year, 'pct_aged_0_15' as indicator_id, aged_0_15 as n, all_ages from sape
    union all select lsoa11_code, year, 'pct_aged_16_24', aged_16_24, all_ages from sape
    union all select lsoa11_code, year, 'pct_aged_25_64', aged_25_64, all_ages from sape
    union all select lsoa11_code, year, 'pct_aged_65_plus', aged_65_plus, all_ages from sape
),

sape_rows as (
    select
        s.indicator_id,
        c.lsoa21_code,
        {{ exact_sum('s.n * c.share') }} as numerator,
        {{ exact_sum('s.all_ages * c.share') }} as denominator,
        'proportion' as value_kind,
        case when bool_or(c.change_code = 'S') then 'estimated' else 'actual' end as status,
        make_date(s.year, 6, 30) as period_start,
        make_date(s.year, 6, 30) as period_end,
        'Mid-' || s.year::varchar as period_label,
        'ONS small area population estimates, mid-' || s.year::varchar || ' (2011 LSOAs, bridged)' as source_release
    from sape_long as s
    inner join child_share as c on s.lsoa11_code = c.lsoa11_code
    where s.n is not null  -- mid-2018 has no 16-24 / 25-64 split in the bundled release
    group by s.indicator_id, c.lsoa21_code, s.year
),

-- police.uk crime per calendar quarter, as a rate per 1,000 person-years
crime_groups as (
    select * from {{ ref('crime_group_members') }}
),

crime_indicator as (
    select crime_group, indicator_id from {{ ref('crime_groups') }}
),

crime_rows as (
    select
        i.indicator_id,
        q.area_code as lsoa21_code,
        q.crime_count::double as numerator,
        q.population_2021 * q.days_in_quarter / 365.25 as denominator,
        'rate' as value_kind,
        'actual' as status,
        q.quarter_start as period_start,
        (q.quarter_start + interval 3 month - interval 1 day)::date as period_end,
        q.quarter_label as period_label,
        'data.police.uk street-level crime; Census 2021 residents' as source_release
    from {{ ref('fct_crime_quarterly') }} as q
    inner join crime_indicator as i on q.crime_group = i.crime_group
    where q.geography_level = 'lsoa' and q.complete_months = 3
      and {{ police_quarters_filter('q.quarter_start') }}
),

-- WIMD 2025 (2021 LSOAs): each LSOA counts 1 towards its area's LSOAs, and 1 more if in decile 1
wimd_rows as (
    select 'wimd_most_deprived_10pct_share' as indicator_id, lsoa21_code,
           (wimd2025_decile = 1)::integer::double as numerator, 1.0 as denominator, 'area_share' as value_kind,
           'actual' as status, date '2025-11-01' as period_start, date '2025-11-01' as period_end,
           'WIMD 2025' as period_label, 'Welsh Index of Multiple Deprivation 2025' as source_release
    from {{ ref('dim_geography') }}
)

select indicator_id, lsoa21_code, numerator, denominator, value_kind, status, period_start, period_end,
       period_label, source_release
from census_rows where {{ police_rebuild_all() }}
union all select * from sape_rows where {{ police_rebuild_all() }}
union all select * from crime_rows
union all select * from wimd_rows where {{ police_rebuild_all() }}
