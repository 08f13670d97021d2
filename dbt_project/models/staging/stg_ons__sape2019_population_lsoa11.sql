-- ONS small-area population estimates, mid-2019, all persons, per 2011 LSOA.
select
    trim(lsoa11_code) as lsoa11_code,
    total_population::integer as population_mid2019
from {{ source('raw', 'sape2019_population_lsoa11') }}
