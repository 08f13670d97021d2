{#-
  Benchmarking against an average (guide, Part 2, Step 4): districts against Wales; neighbourhoods
  against the district average or against neighbourhoods with a similar socio-demographic profile.
    LSOA rows:  'la'            the LSOA's local authority, same indicator and period;
                'wales'         Wales, same indicator and period;
                'similar_areas' the OTHER 2021 LSOAs with the same WIMD 2025 decile AND the same urban/rural
                                class that have a value for the period, wherever they are (every police force
                                whose files are loaded, no force restriction), pooled by SUMMING numerators
                                and denominators (never averaging values): the group's sums minus the LSOA's
                                own count and denominator, so an area is never part of its own benchmark. No
                                benchmark when fewer than 3 other LSOAs (min_similar_others) have a value.
                                Only for count-based proportions and rates (ci_method wilson / poisson_exact);
                                the WIMD most-deprived share is left out because the grouping is WIMD itself.
    MSOA rows:  'la' (the MSOA's local authority, seed msoa21) and 'wales', for indicators published at MSOA
                (Census tables bundled only per MSOA); no similar-areas pool (the groups are of LSOAs).
    LA rows:    'wales'.
  A benchmark with no value for the period gives no row.

  Verdict (macro benchmark_comparison, macros/benchmark_rules.sql, the one rule for every benchmark): the
  area's 95% interval against the benchmark's value (Fingertips practice; the benchmark's own interval is
  not used) AND a materiality rule: 'higher' / 'lower' only when the interval excludes the benchmark and
  |value − benchmark| ≥ the catalogue's change_threshold (in the indicator's unit); otherwise 'similar'.
  'not compared' when the figure is unreliable (status), has no interval, or there is no benchmark.
  Census proportions carry Wilson intervals under the "natural variation" convention (PHE / ONS), not
  sampling error: with LA denominators of 50,000-360,000 those intervals are a fraction of a point wide,
  so the materiality rule is what keeps trivia from becoming verdicts.
  assessment reads the comparison through the indicator's polarity: higher is 'worse' for a risk proxy and
  'better' for a protective one; context indicators stay 'higher' / 'lower'.
-#}
{#- Incremental by quarter (macros/incremental_months.sql): every benchmark is of one indicator and period, so a
    build of new police.uk months rebuilds their quarters' crime and ASB rows and keeps every other row. -#}
{%- set min_similar_others = 3 -%}
{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='fail',
          pre_hook="{{ police_quarters_reset('period_start', police_indicators=true) }}") }}
-- depends_on: {{ ref('crime_groups') }}  (the police.uk indicators, macros/incremental_months.sql)
with indicator_value as (
    select * from {{ ref('fct_indicator_value') }}
    where {{ police_indicator_quarters_filter('period_start') }}
),

catalogue as (
    select indicator_id, change_threshold, caveats from {{ ref('indicator_catalogue') }}
),

geography as (
    select lsoa21_code, la_code, wimd2025_decile, urban_rural from {{ ref('dim_geography') }}
),

lsoa as (
    select v.*, g.la_code, g.wimd2025_decile, g.urban_rural,
           'wimd2025_decile_' || lpad(g.wimd2025_decile::varchar, 2, '0') || '_' || lower(g.urban_rural)
               as similar_group,
           (v.ci_method in ('wilson', 'poisson_exact') and v.numerator is not null and v.denominator is not null
            and v.status <> 'unreliable') as is_poolable
    from indicator_value as v
    inner join geography as g on v.area_code = g.lsoa21_code
    where v.geography_level = 'lsoa'
),

-- the whole group's sums; each LSOA's benchmark is these minus its own figures
similar_group_sums as (
    select
        indicator_id, period_start, period_end, similar_group,
        {{ exact_sum('numerator') }} as group_numerator,
        {{ exact_sum('denominator') }} as group_denominator,
        count(*) as group_lsoas
    from lsoa
    where is_poolable
    group by indicator_id, period_start, period_end, similar_group
),

similar_others as (
    select
        l.indicator_id, l.area_code, l.period_start, l.period_end, l.unit, s.similar_group,
        s.group_numerator - l.numerator as others_numerator,
        s.group_denominator - l.denominator as others_denominator,
        s.group_lsoas - 1 as others_lsoas
    from lsoa as l
    inner join similar_group_sums as s
        on l.indicator_id = s.indicator_id and l.similar_group = s.similar_group
        and l.period_start = s.period_start and l.period_end = s.period_end
    where l.is_poolable
),

similar_pool as (
    select
        indicator_id, area_code, period_start, period_end, similar_group, others_lsoas,
        {{ unit_scale('unit') }} * others_numerator / others_denominator as pooled_value
    from similar_others
    where others_lsoas >= {{ min_similar_others }} and others_denominator > 0
),

-- MSOAs (indicators that exist only per MSOA) with their LA
msoa as (
    select v.*, m.la_code
    from indicator_value as v
    inner join {{ ref('msoa21') }} as m on v.area_code = m.msoa21_code
    where v.geography_level = 'msoa'
),

wales as (
    select * from indicator_value where geography_level = 'wales'
),

la as (
    select * from indicator_value where geography_level = 'la'
),

benchmarked as (
    select l.* exclude (is_poolable), 'la' as benchmark_type, b.area_code as benchmark_area_code,
           b.value as benchmark_value, null::integer as benchmark_lsoa_count
    from lsoa as l
    inner join la as b
        on l.indicator_id = b.indicator_id and l.la_code = b.area_code
        and l.period_start = b.period_start and l.period_end = b.period_end
    union all by name
    select l.* exclude (is_poolable), 'wales' as benchmark_type, b.area_code as benchmark_area_code,
           b.value as benchmark_value, null::integer as benchmark_lsoa_count
    from lsoa as l
    inner join wales as b
        on l.indicator_id = b.indicator_id and l.period_start = b.period_start and l.period_end = b.period_end
    union all by name
    select l.* exclude (is_poolable), 'similar_areas' as benchmark_type, s.similar_group as benchmark_area_code,
           s.pooled_value as benchmark_value, s.others_lsoas::integer as benchmark_lsoa_count
    from lsoa as l
    inner join similar_pool as s
        on l.indicator_id = s.indicator_id and l.area_code = s.area_code
        and l.period_start = s.period_start and l.period_end = s.period_end
    union all by name
    select m.*, 'la' as benchmark_type, b.area_code as benchmark_area_code, b.value as benchmark_value,
           null::integer as benchmark_lsoa_count
    from msoa as m
    inner join la as b
        on m.indicator_id = b.indicator_id and m.la_code = b.area_code
        and m.period_start = b.period_start and m.period_end = b.period_end
    union all by name
    select m.*, 'wales' as benchmark_type, b.area_code as benchmark_area_code, b.value as benchmark_value,
           null::integer as benchmark_lsoa_count
    from msoa as m
    inner join wales as b
        on m.indicator_id = b.indicator_id and m.period_start = b.period_start and m.period_end = b.period_end
    union all by name
    select a.*, 'wales' as benchmark_type, b.area_code as benchmark_area_code, b.value as benchmark_value,
           null::integer as benchmark_lsoa_count
    from la as a
    inner join wales as b
        on a.indicator_id = b.indicator_id and a.period_start = b.period_start and a.period_end = b.period_end
),

compared as (
    select
        b.*,
        c.change_threshold as materiality_threshold,
        {{ benchmark_comparison('b.lci_95', 'b.uci_95', 'b.value', 'b.benchmark_value', 'c.change_threshold', 'b.status') }}
            as comparison,
        {{ benchmark_comparison_note('b.lci_95', 'b.uci_95', 'b.value', 'b.benchmark_value', 'c.change_threshold', 'b.status', 'c.caveats') }}
            as comparison_note
    from benchmarked as b
    inner join catalogue as c on b.indicator_id = c.indicator_id
)

select
    indicator_id::varchar as indicator_id,
    cohesion_factor::varchar as cohesion_factor,
    geography_level::varchar as geography_level,
    area_code::varchar as area_code,
    area_name::varchar as area_name,
    period_label::varchar as period_label,
    period_start::date as period_start,
    unit::varchar as unit,
    polarity::varchar as polarity,
    status::varchar as status,
    benchmark_type::varchar as benchmark_type,
    benchmark_area_code::varchar as benchmark_area_code,
    benchmark_lsoa_count::integer as benchmark_lsoa_count,
    benchmark_value::double as benchmark_value,
    value::double as value,
    lci_95::double as lci_95,
    uci_95::double as uci_95,
    (value - benchmark_value)::double as difference,
    materiality_threshold::double as materiality_threshold,
    comparison::varchar as comparison,
    ({{ polarity_assessment('comparison', 'polarity') }})::varchar as assessment,
    comparison_note::varchar as comparison_note
from compared
