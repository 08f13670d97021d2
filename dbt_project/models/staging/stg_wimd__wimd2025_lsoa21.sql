-- WIMD 2025 per 2021 LSOA: official overall rank and decile, and the domain deciles.
select
    trim(lsoa21_code) as lsoa21_code,
    wimd_rank::integer as wimd2025_rank,
    wimd_decile::integer as wimd2025_decile,
    income_decile::integer as income_decile,
    employment_decile::integer as employment_decile,
    health_decile::integer as health_decile,
    education_decile::integer as education_decile,
    access_decile::integer as access_to_services_decile,
    housing_decile::integer as housing_decile,
    community_safety_decile::integer as community_safety_decile,
    physical_environment_decile::integer as physical_environment_decile
from {{ source('raw', 'wimd2025_lsoa21') }}
