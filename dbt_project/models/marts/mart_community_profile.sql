{#-
  Community profile per local authority (guide, Part 1): one row per LA × topic × measure, each figure
  with its unit, source and date. Long on purpose: a profile is read topic by topic, and new measures
  add rows, not columns.

  Census 2021 counts by 2021 LSOA are SUMMED to the LA (LSOAs nest in LAs) before dividing; LA-only
  tables are used as published (detailed ethnic groups as counts, qualifications and economic activity
  as the ONS Census Maps percentages). Crime: the latest 12 months of police.uk recorded crime and ASB,
  pooled from fct_indicator_value's quarters (crimes / person-years × 1,000), only where the LA is
  complete for all four quarters.

  Welsh language is not in this table: the only bundled figure loaded to the warehouse is the Census
  2011 percentage per 2011 LSOA, with no counts, so an LA figure cannot be summed from it (see the
  model's description).
-#}
with geography as (
    select lsoa21_code, la_code, la_name, urban_rural, population_2021 from {{ ref('dim_geography') }}
),

la as (
    select la_code, any_value(la_name) as la_name, sum(population_2021) as usual_residents,
           count(*) as lsoas,
           sum(population_2021) filter (where urban_rural = 'Rural') as rural_residents
    from geography group by la_code
),

census as (select 'Census 2021' as period_label),

-- LA figures the indicator mart already publishes (summed from LSOA counts there)
indicator_la as (
    select indicator_id, area_code, value from {{ ref('fct_indicator_value') }}
    where geography_level = 'la' and period_label = 'Census 2021'
),

-- size and settlement pattern
size_rows as (
    select la_code, 'size' as topic, 1 as sort_order, 'Usual residents' as measure, usual_residents::double as value,
           'count' as unit, 'Census 2021 TS007A age (6 bands), usual residents summed over the LA''s 2021 LSOAs (ONS)' as source,
           'usual residents' as universe
    from la
    union all
    select t.la_code, 'size', 2, 'Households', sum(t.total)::double, 'count',
           'Census 2021 TS054 tenure, total households summed over the LA''s 2021 LSOAs (ONS)', 'households'
    from (
        select g.la_code, r.area_code, any_value(r.total) as total
        from {{ source('raw', 'census2021_tenure_lsoa21') }} as r
        inner join geography as g on r.area_code = g.lsoa21_code
        group by g.la_code, r.area_code
    ) as t
    group by t.la_code
    union all
    select la_code, 'size', 3, 'LSOAs (2021)', lsoas::double, 'count', 'ONS 2021 LSOA boundaries (dim_geography)', 'areas'
    from la
    union all
    select la_code, 'size', 4, 'Residents living in rural LSOAs', 100.0 * coalesce(rural_residents, 0) / usual_residents,
           'percent', 'ONS 2021 rural-urban classification of LSOAs; Census 2021 usual residents', 'usual residents'
    from la
),

-- age structure: Census 2021 six bands
age_rows as (
    select
        g.la_code, 'age_structure' as topic,
        row_number() over (partition by g.la_code order by min(a.age_band)) as sort_order,
        a.age_band_label as measure,
        100.0 * sum(a.usual_residents) / any_value(l.usual_residents) as value,
        'percent' as unit,
        'Census 2021 TS007A age (6 bands) by 2021 LSOA, summed to the LA (ONS)' as source,
        'usual residents' as universe
    from {{ ref('stg_census2021__population_lsoa21') }} as a
    inner join geography as g on a.lsoa21_code = g.lsoa21_code
    inner join la as l on g.la_code = l.la_code
    group by g.la_code, a.age_band_label
),

-- ethnicity: % ethnic minority (five high-level groups by LSOA), then the 19 detailed LA groups
ethnic_minority as (
    select area_code as la_code, 'ethnicity' as topic, 1 as sort_order, 'Ethnic minority (non-White) residents' as measure,
           value, 'percent' as unit,
           'Census 2021 TS021 ethnic group (5 high-level groups) by 2021 LSOA, summed to the LA (ONS)' as source,
           'usual residents' as universe
    from indicator_la where indicator_id = 'pct_ethnic_minority'
),

ethnic_detailed_counts as (
    select la_code, category, n::double as n from {{ source('raw', 'census2021_ethnicity_la') }}
),

ethnic_detailed as (
    select la_code, 'ethnicity' as topic,
           1 + row_number() over (partition by la_code order by category) as sort_order,
           category as measure,
           100.0 * n / sum(n) over (partition by la_code) as value, 'percent' as unit,
           'Census 2021 TS021 ethnic group (detailed, 19 groups) by LA (ONS); % of the groups'' total' as source,
           'usual residents' as universe
    from ethnic_detailed_counts
),

-- religion: the nine TS030 categories, LSOA counts summed to the LA
religion_rows as (
    select g.la_code, 'religion' as topic,
           case r.category when 'Christian' then 1 when 'Buddhist' then 2 when 'Hindu' then 3 when 'Jewish' then 4
                           when 'Muslim' then 5 when 'Sikh' then 6 when 'Other religion' then 7
                           when 'No religion' then 8 else 9 end as sort_order,
           r.category as measure,
           100.0 * sum(r.n) / sum(sum(r.n)) over (partition by g.la_code) as value, 'percent' as unit,
           'Census 2021 TS030 religion by 2021 LSOA, summed to the LA (ONS); religion is voluntary, ''Not answered'' kept in the total' as source,
           'usual residents' as universe
    from {{ source('raw', 'census2021_religion_lsoa21') }} as r
    inner join geography as g on r.area_code = g.lsoa21_code
    group by g.la_code, r.category
),

-- tenure: the eight TS054 categories, LSOA counts summed to the LA
tenure_rows as (
    select g.la_code, 'tenure' as topic,
           row_number() over (partition by g.la_code order by t.category) as sort_order,
           t.category as measure,
           100.0 * sum(t.n) / sum(sum(t.n)) over (partition by g.la_code) as value, 'percent' as unit,
           'Census 2021 TS054 tenure of households by 2021 LSOA, summed to the LA (ONS)' as source,
           'households' as universe
    from {{ source('raw', 'census2021_tenure_lsoa21') }} as t
    inner join geography as g on t.area_code = g.lsoa21_code
    group by g.la_code, t.category
),

-- disability: TS038, LSOA counts summed to the LA
disability_rows as (
    select area_code as la_code, 'disability' as topic, 1 as sort_order, 'Disabled under the Equality Act' as measure,
           value, 'percent' as unit,
           'Census 2021 TS038 disability by 2021 LSOA, summed to the LA (ONS)' as source,
           'usual residents' as universe
    from indicator_la where indicator_id = 'pct_disabled_equality_act'
),

-- qualifications and economic activity: LA percentages as published (ONS Census Maps)
topic_rows as (
    select
        p.area_code as la_code,
        case p.topic when 'Highest level of qualification' then 'qualifications' else 'economic_activity' end as topic,
        row_number() over (partition by p.area_code, p.topic order by p.category_code) as sort_order,
        p.category_name as measure,
        p.percent as value,
        'percent' as unit,
        case p.topic when 'Highest level of qualification' then 'Census 2021 TS067 highest level of qualification'
                     else 'Census 2021 TS066 economic activity status' end
            || ' by LA, % as published on ONS Census Maps (1 d.p.)' as source,
        p.universe
    from {{ source('raw', 'census2021_la_topic_percentages') }} as p
    inner join la on p.area_code = la.la_code
    where p.topic in ('Highest level of qualification', 'Economic activity status')
),

-- crime: the latest complete 12-month window of police.uk quarters (int_indicator__twelve_months)
crime_pooled as (
    select area_code as la_code, indicator_id, window_end, numerator as crimes, denominator as person_years
    from {{ ref('int_indicator__twelve_months') }}
    where geography_level = 'la' and indicator_id in ('all_crime_rate', 'asb_rate') and is_complete
    qualify window_end = max(window_end) over (partition by indicator_id)
),

crime_rows as (
    select la_code, 'crime' as topic,
           case indicator_id when 'all_crime_rate' then 1 else 3 end as sort_order,
           case indicator_id when 'all_crime_rate' then 'All recorded crime per 1,000 residents'
                else 'Anti-social behaviour incidents per 1,000 residents' end as measure,
           1000.0 * crimes / person_years as value, 'per_1000_person_years' as unit,
           'data.police.uk street-level crime (recorded crime and ASB), 4 quarters pooled; Census 2021 residents as person-years' as source,
           'usual residents' as universe, window_end
    from crime_pooled
    union all
    select la_code, 'crime',
           case indicator_id when 'all_crime_rate' then 2 else 4 end,
           case indicator_id when 'all_crime_rate' then 'All recorded crimes (count)'
                else 'Anti-social behaviour incidents (count)' end,
           crimes, 'count',
           'data.police.uk street-level crime (recorded crime and ASB), 4 quarters summed',
           'crimes / incidents', window_end
    from crime_pooled
),

census_all as (
    select * from size_rows
    union all select * from age_rows
    union all select * from ethnic_minority
    union all select * from ethnic_detailed
    union all select * from religion_rows
    union all select * from tenure_rows
    union all select * from disability_rows
    union all select * from topic_rows
),

unioned as (
    select c.*, 'Census 2021' as period_label from census_all as c
    union all
    select la_code, topic, sort_order, measure, value, unit, source, universe,
           '12 months to ' || strftime(window_end, '%Y-%m-%d') as period_label
    from crime_rows
),

topic_order as (
    select * from (values
        ('size', 1), ('age_structure', 2), ('ethnicity', 3), ('religion', 4), ('welsh_language', 5), ('tenure', 6),
        ('disability', 7), ('qualifications', 8), ('economic_activity', 9), ('crime', 10)
    ) as t(topic, topic_order)
)

select
    u.la_code::varchar as la_code,
    la.la_name::varchar as la_name,
    u.topic::varchar as topic,
    o.topic_order::integer as topic_order,
    u.sort_order::integer as measure_order,
    u.measure::varchar as measure,
    u.value::double as value,
    u.unit::varchar as unit,
    u.universe::varchar as universe,
    u.source::varchar as source,
    u.period_label::varchar as period_label
from unioned as u
inner join la on u.la_code = la.la_code
inner join topic_order as o on u.topic = o.topic
