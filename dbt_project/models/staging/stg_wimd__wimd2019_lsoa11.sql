-- WIMD 2019 per 2011 LSOA: score, official rank (ONS/WG lookup) and decile (rank bands in the
-- wimd_decile_bounds seed; the 10/20/30/50% cuts are StatsWales' published ones).
with wimd as (
    select * from {{ source('raw', 'wimd2019_lsoa11') }}
),

bounds as (
    select * from {{ ref('wimd_decile_bounds') }} where wimd_release = 2019
)

select
    trim(w.lsoa11_code) as lsoa11_code,
    trim(w.lsoa11_name_wimd) as lsoa11_name_wimd,
    w.wimd_score::double as wimd2019_score,
    w.wimd_rank::integer as wimd2019_rank,
    b.decile as wimd2019_decile,
    w.income_score::double as income_score,
    w.employment_score::double as employment_score,
    w.health_score::double as health_score,
    w.education_score::double as education_score,
    w.access_to_services_score::double as access_to_services_score,
    w.housing_score::double as housing_score,
    w.community_safety_score::double as community_safety_score,
    w.physical_environment_score::double as physical_environment_score
from wimd as w
left join bounds as b
    on w.wimd_rank::integer between b.rank_from and b.rank_to
