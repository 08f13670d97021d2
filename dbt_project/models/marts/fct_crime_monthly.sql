{#-
  Street-level crime by area × month × police.uk crime type, with the rate per 1,000 residents.

  Counts only is_counted records (stg_police_uk__street_crimes): a Crime ID counts once per month (the
  row with the latest outcome is the one counted and placed); ASB rows, which have no Crime ID, all count.
  The repeated rows not counted are shown per force and month in fct_crime_monthly_coverage.

  LSOA rows: every LSOA of a force whose file for the month is loaded (zero-filled), plus any Welsh
  LSOA where a loaded force recorded something. Ward, LA, police force and Wales rows SUM the LSOA
  counts and the LSOA populations; rates are never averaged. A rate is published only when the area's
  figures are complete, i.e. every LSOA in it belongs to a force whose file for that month is loaded
  (all four forces are bundled for 2022-01..11; from 2022-12 only Gwent, so Wales then carries counts but no rate). Rows with no location and rows
  in English LSOAs cannot be placed in a Welsh area; they are counted in fct_crime_monthly_coverage.

  Incremental by month (macros/incremental_months.sql): every figure here is within one month.
-#}
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='month',
          on_schema_change='fail', pre_hook="{{ police_months_reset() }}") }}

with crimes as (
    select * from {{ ref('stg_police_uk__street_crimes') }}
    where lsoa21_code is not null
      and is_counted
      and {{ police_months_filter("month", is_date=true) }}
),

geo as (
    select * from {{ ref('dim_geography') }}
),

membership as (
    select * from {{ ref('int_geography__area_membership') }}
),

crime_types as (
    select * from {{ ref('police_uk_crime_types') }}
),

covered as (
    select g.lsoa21_code, fm.month
    from {{ ref('int_police_uk__force_months') }} as fm
    inner join geo as g on fm.police_force_code = g.police_force_code
    where {{ police_months_filter("fm.month", is_date=true) }}
),

counts as (
    select lsoa21_code, month, crime_type, count(*) as crime_count
    from crimes
    group by lsoa21_code, month, crime_type
),

grid as (
    select c.lsoa21_code, c.month, t.crime_type
    from covered as c
    cross join crime_types as t
),

lsoa_facts as (
    select
        lsoa21_code,
        month,
        crime_type,
        coalesce(counts.crime_count, 0) as crime_count
    from grid
    full outer join counts using (lsoa21_code, month, crime_type)
),

lsoa_complete as (
    select
        f.lsoa21_code,
        f.month,
        f.crime_type,
        f.crime_count,
        (cv.lsoa21_code is not null) as is_complete
    from lsoa_facts as f
    left join covered as cv using (lsoa21_code, month)
),

area_size as (
    select
        geography_level,
        area_code,
        count(*) as lsoas_in_area,
        sum(population_2021) as population_2021
    from membership
    group by geography_level, area_code
),

rolled as (
    select
        m.geography_level,
        any_value(m.level_order) as level_order,
        m.area_code,
        any_value(m.area_name) as area_name,
        f.month,
        f.crime_type,
        sum(f.crime_count) as crime_count,
        count(distinct f.lsoa21_code) filter (where f.is_complete) as lsoas_with_complete_data
    from lsoa_complete as f
    inner join membership as m on f.lsoa21_code = m.lsoa21_code
    group by m.geography_level, m.area_code, f.month, f.crime_type
)

select
    r.geography_level::varchar as geography_level,
    r.area_code::varchar as area_code,
    r.area_name::varchar as area_name,
    r.month::date as month,
    r.crime_type::varchar as crime_type,
    t.crime_type_slug::varchar as crime_type_slug,
    t.is_recorded_crime::boolean as is_recorded_crime,
    r.crime_count::integer as crime_count,
    s.population_2021::integer as population_2021,
    case
        when r.lsoas_with_complete_data = s.lsoas_in_area
            then round(1000.0 * r.crime_count / s.population_2021, 4)
    end::double as rate_per_1000,
    'per_1000_per_month'::varchar as rate_unit,
    s.lsoas_in_area::integer as lsoas_in_area,
    r.lsoas_with_complete_data::integer as lsoas_with_complete_data,
    (r.lsoas_with_complete_data = s.lsoas_in_area)::boolean as is_complete
from rolled as r
inner join area_size as s using (geography_level, area_code)
inner join crime_types as t on r.crime_type = t.crime_type
order by r.level_order, r.area_code, r.month, r.crime_type
