{#-
  Numerator and denominator of every count-based indicator that exists only per 2021 MSOA (Census 2021
  tables bundled at MSOA level, not LSOA), the input fct_indicator_value sums to LA, police force and Wales
  by adding NUMERATORS and DENOMINATORS (int_geography__msoa_membership), never averaging values.

  TS019 migrant indicator (base: usual residents aged 1 and over, i.e. the census population less babies
  born in the year before Census Day, who had no address one year ago):
    pct_arrived_from_outside_uk_1yr  migrants from outside the UK / all usual residents aged 1+
    pct_moved_within_uk_1yr          migrants from within the UK / all usual residents aged 1+
  Residents whose address one year ago was a student term-time or boarding-school address in the UK are in
  neither numerator (full-time students and pupils who gave a term-time address as their address a year
  earlier, whether or not they still live there: ONS cannot tell whether they moved and does not classify
  them as migrants) but stay in the denominator, as in ONS's own percentages, so the figures reproduce the
  published ones (ONS Census Maps: Wales 8.3% and 0.5%).

  TS029 proficiency in English ("English or Welsh in Wales"; base: usual residents aged 3 and over):
    pct_cannot_speak_english_well    main language not English or Welsh AND cannot speak English well or
                                     cannot speak English / all usual residents aged 3+
-#}
with census_period as (
    select date '2021-03-21' as period_start, date '2021-03-21' as period_end, 'Census 2021' as period_label
),

topic as (
    select 'pct_arrived_from_outside_uk_1yr' as indicator_id, area_code as msoa21_code,
           sum(n) filter (where category like 'Migrant from outside the UK:%') as numerator,
           any_value(total) as denominator, 'Census 2021 TS019 migrant indicator (ONS; MSOA)' as source_release
    from {{ source('raw', 'census2021_migrant_indicator_msoa21') }} group by area_code
    union all
    select 'pct_moved_within_uk_1yr', area_code,
           sum(n) filter (where category like 'Migrant from within the UK:%'), any_value(total),
           'Census 2021 TS019 migrant indicator (ONS; MSOA)'
    from {{ source('raw', 'census2021_migrant_indicator_msoa21') }} group by area_code
    union all
    select 'pct_cannot_speak_english_well', area_code,
           sum(n) filter (where category in (
               'Main language is not English (English or Welsh in Wales): Cannot speak English well',
               'Main language is not English (English or Welsh in Wales): Cannot speak English')),
           any_value(total), 'Census 2021 TS029 proficiency in English (ONS; MSOA)'
    from {{ source('raw', 'census2021_english_proficiency_msoa21') }} group by area_code
)

select t.indicator_id, t.msoa21_code, t.numerator::double as numerator, t.denominator::double as denominator,
       'proportion' as value_kind, 'actual' as status, cp.period_start, cp.period_end, cp.period_label,
       t.source_release
from topic as t
cross join census_period as cp
