-- Census 2021 usual residents per 2021 LSOA and age band (six bands), long format.
select
    trim(lsoa21_code) as lsoa21_code,
    trim(lsoa21_name) as lsoa21_name,
    case age_group
        when 'Aged 15 years and under' then 'aged_0_15'
        when 'Aged 16 to 24 years' then 'aged_16_24'
        when 'Aged 25 to 34 years' then 'aged_25_34'
        when 'Aged 35 to 49 years' then 'aged_35_49'
        when 'Aged 50 to 64 years' then 'aged_50_64'
        when 'Aged 65 years and over' then 'aged_65_plus'
    end as age_band,
    age_group as age_band_label,
    usual_residents::integer as usual_residents
from {{ source('raw', 'census2021_population_lsoa21') }}
