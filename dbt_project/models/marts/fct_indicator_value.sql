{#-
  One row per indicator × area × period: the guide's cohesion proxies (seed indicator_catalogue) at
  every geography level the data allows.

  Count-based indicators are built per 2021 LSOA (int_indicator__lsoa_counts) and summed to ward, LA,
  police force and Wales by adding NUMERATORS and DENOMINATORS, never averaging values. An area is
  published only when every one of its LSOAs has data for the period (crime: only forces whose files
  are loaded). Census tables bundled only per 2021 MSOA (TS019 migrant indicator, TS029 proficiency in
  English; int_indicator__msoa_counts) are published at MSOA and summed the same way to LA, police force
  and Wales (int_geography__msoa_membership; an area only when all its MSOAs have data); MSOAs do not
  nest in wards and contain several LSOAs, so those indicators have no ward or LSOA values. LA-level
  counts (country of birth, 2011 tenure) sum to police force and Wales the same way. WIMD 2019 shares
  come from the 2011 LSOAs it was published on (as StatsWales publishes them).
  Published values (ONS ELS, Census LA percentages, 2011 Welsh speakers) keep the source's figure and
  interval.

  95% intervals: Wilson score for census proportions (the "natural variation" convention, stated in the
  exception_method docs block), the exact (Garwood) Poisson interval for crime counts; none for shares of
  areas (a complete count of areas, not a sample) or values published without.

  Incremental by quarter (macros/incremental_months.sql): a police.uk month changes only its own quarter's crime
  and ASB rows (every level's figure is summed from that quarter's LSOA rows), so a build of new months rebuilds
  those and keeps every other row.
-#}
{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='fail',
          pre_hook="{{ police_quarters_reset('period_start', police_indicators=true) }}") }}
-- depends_on: {{ ref('crime_groups') }}  (the police.uk indicators, macros/incremental_months.sql)

with lsoa_counts as (
    select * from {{ ref('int_indicator__lsoa_counts') }}
    where {{ police_indicator_quarters_filter('period_start') }}
),

membership as (
    select * from {{ ref('int_geography__area_membership') }}
),

area_size as (
    select geography_level, area_code, any_value(area_name) as area_name, count(*) as lsoas_in_area
    from membership group by 1, 2
),

rolled_lsoa as (
    select
        c.indicator_id, m.geography_level, m.area_code, c.period_start, c.period_end,
        any_value(c.period_label) as period_label, any_value(c.value_kind) as value_kind,
        {{ exact_sum('c.numerator') }} as numerator, {{ exact_sum('c.denominator') }} as denominator, count(*) as lsoas_with_data,
        case when bool_or(c.status = 'estimated') and m.geography_level in ('lsoa', 'ward') then 'estimated'
             else 'actual' end as status,
        any_value(c.source_release) as source_release
    from lsoa_counts as c
    inner join membership as m on c.lsoa21_code = m.lsoa21_code
    group by c.indicator_id, m.geography_level, m.area_code, c.period_start, c.period_end
),

complete_lsoa as (
    select r.* exclude (lsoas_with_data), s.area_name
    from rolled_lsoa as r
    inner join area_size as s using (geography_level, area_code)
    where r.lsoas_with_data = s.lsoas_in_area
),

-- indicators that exist only per 2021 MSOA, summed to every level the MSOAs nest in
msoa_counts as (
    select * from {{ ref('int_indicator__msoa_counts') }}
    where {{ police_rebuild_all() }}
),

msoa_membership as (
    select * from {{ ref('int_geography__msoa_membership') }}
),

msoa_area_size as (
    select geography_level, area_code, any_value(area_name) as area_name, count(*) as msoas_in_area
    from msoa_membership group by 1, 2
),

rolled_msoa as (
    select
        c.indicator_id, m.geography_level, m.area_code, c.period_start, c.period_end,
        any_value(c.period_label) as period_label, any_value(c.value_kind) as value_kind,
        {{ exact_sum('c.numerator') }} as numerator, {{ exact_sum('c.denominator') }} as denominator, count(*) as msoas_with_data,
        case when bool_or(c.status = 'estimated') and m.geography_level = 'msoa' then 'estimated'
             else 'actual' end as status,
        any_value(c.source_release) as source_release
    from msoa_counts as c
    inner join msoa_membership as m on c.msoa21_code = m.msoa21_code
    group by c.indicator_id, m.geography_level, m.area_code, c.period_start, c.period_end
),

complete_msoa as (
    select r.* exclude (msoas_with_data), s.area_name
    from rolled_msoa as r
    inner join msoa_area_size as s using (geography_level, area_code)
    where r.msoas_with_data = s.msoas_in_area
),

la as (
    select la_code, any_value(la_name) as la_name, any_value(police_force_code) as police_force_code,
           any_value(police_force_name) as police_force_name
    from {{ ref('dim_geography') }} group by la_code
),

la_counts as (
    -- Census 2021 country of birth per LA
    select 'pct_born_in_wales' as indicator_id, la_code,
           sum(n) filter (where country_of_birth = 'europe_united_kingdom_wales') as numerator, any_value(total) as denominator,
           date '2021-03-21' as period_start, 'Census 2021' as period_label, 'Census 2021 TS004 (ONS)' as source_release
    from {{ source('raw', 'census2021_country_of_birth_la') }} group by la_code
    union all
    select 'pct_non_uk_born', la_code, any_value(total) - sum(n) filter (where country_of_birth = 'europe_united_kingdom'),
           any_value(total), date '2021-03-21', 'Census 2021', 'Census 2021 TS004 (ONS)'
    from {{ source('raw', 'census2021_country_of_birth_la') }} group by la_code
    union all
    -- Census 2011 tenure per LA: the 2011 baseline of social renting
    select 'pct_social_rented', la_code, sum(n) filter (where category = 'Social rented: Total'),
           sum(n) filter (where category = 'All categories: Tenure'), date '2011-03-27', 'Census 2011',
           'Census 2011 QS405EW (Nomis)'
    from {{ source('raw', 'census2011_tenure_la') }} group by la_code
    union all
    -- WIMD 2019 on the 2011 LSOAs it was published on
    select 'wimd_most_deprived_10pct_share', l.la_code, count(*) filter (where w.wimd2019_decile = 1), count(*),
           date '2019-11-01', 'WIMD 2019', 'Welsh Index of Multiple Deprivation 2019 (1,909 2011 LSOAs)'
    from {{ ref('stg_wimd__wimd2019_lsoa11') }} as w
    inner join (select lsoa11_code, any_value(lsoa21_code) as lsoa21_code from {{ ref('lsoa11_lsoa21_exact_fit') }} group by 1) as x
        on w.lsoa11_code = x.lsoa11_code
    inner join {{ ref('dim_geography') }} as l on x.lsoa21_code = l.lsoa21_code
    group by l.la_code
),

la_levels as (
    select c.indicator_id, 'la' as geography_level, c.la_code as area_code, la.la_name as area_name,
           c.period_start, c.numerator, c.denominator, c.period_label, c.source_release
    from la_counts as c inner join la using (la_code)
    union all
    select c.indicator_id, 'police_force', la.police_force_code, any_value(la.police_force_name), c.period_start,
           {{ exact_sum('c.numerator') }}, {{ exact_sum('c.denominator') }}, any_value(c.period_label), any_value(c.source_release)
    from la_counts as c inner join la using (la_code)
    group by c.indicator_id, la.police_force_code, c.period_start
    union all
    select c.indicator_id, 'wales', 'W92000004', 'Wales', c.period_start, {{ exact_sum('c.numerator') }}, {{ exact_sum('c.denominator') }},
           any_value(c.period_label), any_value(c.source_release)
    from la_counts as c group by c.indicator_id, c.period_start
),

counted as (
    select indicator_id, geography_level, area_code, area_name, period_start, period_end, period_label,
           numerator, denominator, value_kind, status, source_release
    from complete_lsoa
    union all
    select indicator_id, geography_level, area_code, area_name, period_start, period_end, period_label,
           numerator, denominator, value_kind, status, source_release
    from complete_msoa
    union all
    select indicator_id, geography_level, area_code, area_name, period_start, period_start, period_label,
           numerator::double, denominator::double,
           case when indicator_id = 'wimd_most_deprived_10pct_share' then 'area_share' else 'proportion' end,
           'actual', source_release
    from la_levels
    where {{ police_rebuild_all() }}
),

valued as (
    select
        indicator_id, geography_level, area_code, area_name, period_start, period_end, period_label,
        numerator, denominator,
        case value_kind when 'rate' then 1000.0 * numerator / denominator else 100.0 * numerator / denominator end as value,
        case value_kind
            when 'proportion' then 100.0 * {{ wilson_lower('numerator', 'denominator') }}
            when 'rate' then 1000.0 * {{ poisson_lower('numerator') }} / denominator
        end as lci_95,
        case value_kind
            when 'proportion' then 100.0 * {{ wilson_upper('numerator', 'denominator') }}
            when 'rate' then 1000.0 * {{ poisson_upper('numerator') }} / denominator
        end as uci_95,
        status, source_release,
        case value_kind when 'proportion' then 'wilson' when 'rate' then 'poisson_exact' else 'none' end as ci_method
    from counted
),

published as (
    select * from {{ ref('int_indicator__published_values') }}
),

-- Ethnic diversity (Simpson): 1 - sum of squared shares of the five TS021 groups, from category
-- counts summed to each level first (a diversity index cannot be averaged either).
ethnic_counts as (
    select m.geography_level, m.area_code, e.category, sum(e.n) as n
    from {{ source('raw', 'census2021_ethnicity_lsoa21') }} as e
    inner join membership as m on e.area_code = m.lsoa21_code
    group by all
),

diversity as (
    select 'ethnic_diversity_index' as indicator_id, geography_level, area_code, null::varchar as area_name,
           date '2021-03-21' as period_start, date '2021-03-21' as period_end, 'Census 2021' as period_label,
           null::double as numerator, sum(n)::double as denominator,
           1 - {{ exact_sum('(n::double / total) ^ 2') }} as value, null::double as lci_95, null::double as uci_95,
           'actual' as status, 'Census 2021 TS021 (ONS)' as source_release, 'none' as ci_method
    from (select *, sum(n) over (partition by geography_level, area_code) as total from ethnic_counts)
    group by geography_level, area_code
),

all_rows as (
    select * from valued
    union all
    select indicator_id, geography_level, area_code, area_name, period_start, period_end, period_label,
           null::double, null::double, value, lci_95, uci_95, status, source_release, ci_method
    from published
    where {{ police_rebuild_all() }}
    union all
    select * from diversity
    where {{ police_rebuild_all() }}
),

names as (
    select geography_level, area_code, any_value(area_name) as area_name from membership group by 1, 2
),

catalogue as (
    select indicator_id, cohesion_factor, unit, polarity from {{ ref('indicator_catalogue') }}
),

breaks as (
    select * from {{ ref('indicator_series_breaks') }}
),

-- the comparable series a figure belongs to: its source family plus the breaks the catalogue records up to
-- its period (seed indicator_series_breaks); change is only ever computed within one series_key
series as (
    select a.indicator_id, a.geography_level, a.area_code, a.period_start, a.period_end,
           {{ source_series('a.source_release') }} || '#' || count(b.break_start)::varchar as series_key,
           arg_max(b.reason, b.break_start) as series_break_reason
    from all_rows as a
    left join breaks as b on a.indicator_id = b.indicator_id and b.break_start <= a.period_start
    group by a.indicator_id, a.geography_level, a.area_code, a.period_start, a.period_end, a.source_release
)

select
    a.indicator_id::varchar as indicator_id,
    c.cohesion_factor::varchar as cohesion_factor,
    a.geography_level::varchar as geography_level,
    a.area_code::varchar as area_code,
    coalesce(a.area_name, n.area_name)::varchar as area_name,
    a.period_start::date as period_start,
    a.period_end::date as period_end,
    a.period_label::varchar as period_label,
    a.numerator::double as numerator,
    a.denominator::double as denominator,
    a.value::double as value,
    a.lci_95::double as lci_95,
    a.uci_95::double as uci_95,
    c.unit::varchar as unit,
    c.polarity::varchar as polarity,
    a.status::varchar as status,
    a.ci_method::varchar as ci_method,
    a.source_release::varchar as source_release,
    s.series_key::varchar as series_key,
    s.series_break_reason::varchar as series_break_reason
from all_rows as a
inner join catalogue as c on a.indicator_id = c.indicator_id
inner join series as s
    on a.indicator_id = s.indicator_id and a.geography_level = s.geography_level and a.area_code = s.area_code
    and a.period_start = s.period_start and a.period_end = s.period_end
left join names as n on a.geography_level = n.geography_level and a.area_code = n.area_code
