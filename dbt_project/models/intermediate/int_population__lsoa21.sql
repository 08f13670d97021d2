-- Census 2021 usual residents per 2021 LSOA: the denominator for every per-1,000 rate.
select
    lsoa21_code,
    sum(usual_residents) as population_2021,
    sum(usual_residents) filter (where age_band = 'aged_0_15') as aged_0_15,
    sum(usual_residents) filter (where age_band = 'aged_16_24') as aged_16_24,
    sum(usual_residents) filter (where age_band in ('aged_25_34', 'aged_35_49', 'aged_50_64')) as aged_25_64,
    sum(usual_residents) filter (where age_band = 'aged_65_plus') as aged_65_plus
from {{ ref('stg_census2021__population_lsoa21') }}
group by lsoa21_code
