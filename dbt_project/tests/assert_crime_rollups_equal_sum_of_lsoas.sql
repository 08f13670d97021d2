{{ config(meta={'dagster': {'ref': {'name': 'fct_crime_monthly'}}}) }}
-- Every higher-level count in fct_crime_monthly equals the sum of its LSOAs' counts (via dim_geography),
-- and every Wales-level monthly total equals the records placed in a Welsh LSOA in the coverage mart.
-- Per month, so a build that rebuilt some police.uk months checks those months (police_months_tested,
-- macros/incremental_months.sql); every month otherwise.
with lsoa as (
    select f.*, g.ward_code, g.la_code, g.police_force_code
    from {{ ref('fct_crime_monthly') }} as f
    inner join {{ ref('dim_geography') }} as g on f.area_code = g.lsoa21_code
    where f.geography_level = 'lsoa' and {{ police_months_tested('f.month') }}
),

expected as (
    select 'ward' as geography_level, ward_code as area_code, month, crime_type, sum(crime_count) as n from lsoa group by all
    union all
    select 'la', la_code, month, crime_type, sum(crime_count) from lsoa group by all
    union all
    select 'police_force', police_force_code, month, crime_type, sum(crime_count) from lsoa group by all
    union all
    select 'wales', 'W92000004', month, crime_type, sum(crime_count) from lsoa group by all
),

mismatches as (
    select e.*, f.crime_count
    from expected as e
    full outer join (select * from {{ ref('fct_crime_monthly') }}
                     where geography_level <> 'lsoa' and {{ police_months_tested('month') }}) as f
        using (geography_level, area_code, month, crime_type)
    where e.n is distinct from f.crime_count
),

wales_vs_coverage as (
    select w.month, w.n, c.rows_in_welsh_lsoa
    from (select month, sum(crime_count) as n from {{ ref('fct_crime_monthly') }}
          where geography_level = 'wales' and {{ police_months_tested('month') }} group by month) as w
    full outer join (select month, sum(rows_in_welsh_lsoa) as rows_in_welsh_lsoa
                     from {{ ref('fct_crime_monthly_coverage') }} where {{ police_months_tested('month') }}
                     group by month) as c using (month)
    where w.n is distinct from c.rows_in_welsh_lsoa
)

select 'rollup' as failure, geography_level || ' ' || area_code || ' ' || month::varchar || ' ' || crime_type as detail from mismatches
union all
select 'wales_vs_coverage', month::varchar from wales_vs_coverage
