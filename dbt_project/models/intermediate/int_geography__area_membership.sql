-- Each 2021 LSOA once per level it rolls up to, so any LSOA measure can be summed to every level
-- with one group by. Wards are the best-fit wards of dim_geography.
with geo as (
    select * from {{ ref('dim_geography') }}
)

select lsoa21_code, 'lsoa' as geography_level, 1 as level_order, lsoa21_code as area_code, lsoa21_name as area_name, population_2021 from geo
union all
select lsoa21_code, 'ward', 2, ward_code, ward_name, population_2021 from geo
union all
select lsoa21_code, 'la', 3, la_code, la_name, population_2021 from geo
union all
select lsoa21_code, 'police_force', 4, police_force_code, police_force_name, population_2021 from geo
union all
select lsoa21_code, 'wales', 5, country_code, country_name, population_2021 from geo
