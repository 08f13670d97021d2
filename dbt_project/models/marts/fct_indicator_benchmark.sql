{#-
  Benchmarking against an average (guide, Part 2, Step 4): districts against Wales; neighbourhoods
  against the district average or against neighbourhoods with a similar socio-demographic profile.
    LSOA rows:  'la'            the LSOA's local authority, same indicator and period;
                'wales'         Wales, same indicator and period;
                'similar_areas' all 2021 LSOAs (the LSOA itself included) with the same WIMD 2025 decile
                                AND the same urban/rural class that have a value for the period, pooled by
                                SUMMING numerators and denominators (never averaging values). Only for
                                count-based proportions and rates (ci_method wilson / byar); the WIMD
                                most-deprived share is left out because the grouping is WIMD itself.
    LA rows:    'wales'.
  A benchmark with no value for the period gives no row.

  Comparison as Public Health England's Fingertips makes it: the area's 95% interval against the
  benchmark's value (the benchmark's own interval is not used): 'higher' when lci_95 > benchmark,
  'lower' when uci_95 < benchmark, otherwise 'similar'; 'not compared' when the area has no interval.
  assessment reads that through the indicator's polarity: higher is 'worse' for a risk proxy and
  'better' for a protective one; context indicators stay 'higher' / 'lower'.
-#}
with indicator_value as (
    select * from {{ ref('fct_indicator_value') }}
),

geography as (
    select lsoa21_code, la_code, wimd2025_decile, urban_rural from {{ ref('dim_geography') }}
),

lsoa as (
    select v.*, g.la_code, g.wimd2025_decile, g.urban_rural,
           'wimd2025_decile_' || lpad(g.wimd2025_decile::varchar, 2, '0') || '_' || lower(g.urban_rural)
               as similar_group
    from indicator_value as v
    inner join geography as g on v.area_code = g.lsoa21_code
    where v.geography_level = 'lsoa'
),

similar_pool as (
    select
        indicator_id, period_start, period_end, similar_group,
        case any_value(unit) when 'per_1000' then 1000.0 else 100.0 end * sum(numerator) / sum(denominator)
            as pooled_value,
        count(*) as lsoas_pooled
    from lsoa
    where ci_method in ('wilson', 'byar') and numerator is not null and denominator is not null
    group by indicator_id, period_start, period_end, similar_group
    having sum(denominator) > 0
),

wales as (
    select * from indicator_value where geography_level = 'wales'
),

la as (
    select * from indicator_value where geography_level = 'la'
),

benchmarked as (
    select l.*, 'la' as benchmark_type, b.area_code as benchmark_area_code, b.value as benchmark_value,
           null::integer as benchmark_lsoa_count
    from lsoa as l
    inner join la as b
        on l.indicator_id = b.indicator_id and l.la_code = b.area_code
        and l.period_start = b.period_start and l.period_end = b.period_end
    union all by name
    select l.*, 'wales' as benchmark_type, b.area_code as benchmark_area_code, b.value as benchmark_value,
           null::integer as benchmark_lsoa_count
    from lsoa as l
    inner join wales as b
        on l.indicator_id = b.indicator_id and l.period_start = b.period_start and l.period_end = b.period_end
    union all by name
    select l.*, 'similar_areas' as benchmark_type, s.similar_group as benchmark_area_code,
           s.pooled_value as benchmark_value, s.lsoas_pooled::integer as benchmark_lsoa_count
    from lsoa as l
    inner join similar_pool as s
        on l.indicator_id = s.indicator_id and l.similar_group = s.similar_group
        and l.period_start = s.period_start and l.period_end = s.period_end
    union all by name
    select a.*, 'wales' as benchmark_type, b.area_code as benchmark_area_code, b.value as benchmark_value,
           null::integer as benchmark_lsoa_count
    from la as a
    inner join wales as b
        on a.indicator_id = b.indicator_id and a.period_start = b.period_start and a.period_end = b.period_end
),

compared as (
    select
        *,
        {{ fingertips_comparison('lci_95', 'uci_95', 'benchmark_value') }} as comparison
    from benchmarked
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
    benchmark_type::varchar as benchmark_type,
    benchmark_area_code::varchar as benchmark_area_code,
    benchmark_lsoa_count::integer as benchmark_lsoa_count,
    benchmark_value::double as benchmark_value,
    value::double as value,
    lci_95::double as lci_95,
    uci_95::double as uci_95,
    comparison::varchar as comparison,
    ({{ polarity_assessment('comparison', 'polarity') }})::varchar as assessment
from compared
