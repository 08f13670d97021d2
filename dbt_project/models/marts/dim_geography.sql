-- One row per 2021 LSOA with every level above it and the context used for benchmarking. MSOA names come
-- from seed msoa21 (the 408 Welsh 2021 MSOAs), the same names fct_indicator_value gives its MSOA rows.
with geography as (
    select * from {{ ref('lsoa21_geography') }}
),

msoa as (
    select * from {{ ref('msoa21') }}
),

population as (
    select * from {{ ref('int_population__lsoa21') }}
),

wimd2019 as (
    select * from {{ ref('int_wimd2019__bridged_to_lsoa21') }}
),

wimd2025 as (
    select * from {{ ref('stg_wimd__wimd2025_lsoa21') }}
)

select
    g.lsoa21_code::varchar as lsoa21_code,
    g.lsoa21_name::varchar as lsoa21_name,
    g.msoa21_code::varchar as msoa21_code,
    m.msoa21_name::varchar as msoa21_name,
    m.msoa21_hcl_name::varchar as msoa21_hcl_name,
    g.ward_code::varchar as ward_code,
    g.ward_name::varchar as ward_name,
    g.ward_name_cy::varchar as ward_name_cy,
    g.ward_fit_method::varchar as ward_fit_method,
    g.la_code::varchar as la_code,
    g.la_name::varchar as la_name,
    g.la_name_cy::varchar as la_name_cy,
    g.police_force_code::varchar as police_force_code,
    g.police_force_name::varchar as police_force_name,
    'W92000004'::varchar as country_code,
    'Wales'::varchar as country_name,
    g.ruc21_code::varchar as ruc21_code,
    g.ruc21_class::varchar as ruc21_class,
    g.urban_rural::varchar as urban_rural,
    p.population_2021::integer as population_2021,
    w19.wimd2019_score::double as wimd2019_score,
    w19.wimd2019_rank::integer as wimd2019_rank,
    w19.wimd2019_decile::integer as wimd2019_decile,
    w19.wimd2019_bridge_method::varchar as wimd2019_bridge_method,
    w19.wimd2019_lsoa11_codes::varchar as wimd2019_lsoa11_codes,
    w25.wimd2025_rank::integer as wimd2025_rank,
    w25.wimd2025_decile::integer as wimd2025_decile
from geography as g
left join msoa as m on g.msoa21_code = m.msoa21_code
left join population as p on g.lsoa21_code = p.lsoa21_code
left join wimd2019 as w19 on g.lsoa21_code = w19.lsoa21_code
left join wimd2025 as w25 on g.lsoa21_code = w25.lsoa21_code
