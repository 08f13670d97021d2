{#-
  One row per police.uk street-level record, typed and cleaned, with its 2021 LSOA.

  Every raw row is kept (nothing is dropped here):
  - record_key (force, month, line in the file) identifies a row: anti-social behaviour rows have no
    Crime ID, and police.uk files repeat some Crime IDs (about 700 in the Gwent series, mostly
    identical rows). police.uk counts every row, and so do we; crime_id_rows flags the repeats;
  - rows with no location keep has_location = false and no LSOA;
  - English (E01) LSOAs at the border are kept with is_in_wales = false;
  - 2011 LSOA codes (2022 files mix vintages) are bridged with the ONS exact-fit lookup:
      unchanged (U) codes are the same in both vintages;
      merged (M): several 2011 LSOAs became one 2021 LSOA, so the code maps to that one;
      split (S): one 2011 LSOA became several, so the snap point decides the child
      (raw.police_uk_split_points, computed at ingestion against the 2021 boundaries).
-#}
with crimes as (
    select * from {{ source('raw', 'police_uk_street_crimes') }}
),

split_points as (
    select * from {{ source('raw', 'police_uk_split_points') }}
),

lsoa21 as (
    select lsoa21_code from {{ ref('lsoa21_geography') }}
),

-- 2011 codes that are not also 2021 codes: the split and merged ones
lsoa11_only as (
    select
        lsoa11_code,
        any_value(change_code) as change_code,
        case when any_value(change_code) = 'M' then any_value(lsoa21_code) end as merged_into
    from {{ ref('lsoa11_lsoa21_exact_fit') }}
    where lsoa11_code not in (select lsoa21_code from lsoa21)
    group by lsoa11_code
),

typed as (
    select
        force_id || ':' || month || ':' || source_row::varchar as record_key,
        crime_id,
        case when crime_id is not null then count(*) over (partition by crime_id) end as crime_id_rows,
        month as month_raw,
        strptime(month, '%Y-%m')::date as month,
        force_id,
        reported_by,
        falls_within,
        longitude,
        latitude,
        longitude is not null as has_location,
        location,
        lsoa_code as lsoa_code_reported,
        lsoa_name as lsoa_name_reported,
        crime_type,
        last_outcome_category,
        context,
        source_file,
        source_row,
        load_id
    from crimes
)

select
    t.record_key,
    t.crime_id,
    t.crime_id_rows,
    t.month,
    t.force_id,
    t.reported_by,
    t.falls_within,
    t.crime_type,
    ct.crime_type_slug,
    ct.is_recorded_crime,
    t.last_outcome_category,
    t.has_location,
    t.longitude,
    t.latitude,
    t.location,
    t.lsoa_code_reported,
    t.lsoa_name_reported,
    case
        when t.lsoa_code_reported is null then 'none'
        when t.lsoa_code_reported like 'E01%' then 'england'
        when t.lsoa_code_reported in (select lsoa21_code from lsoa21) then '2021'
        when o.lsoa11_code is not null then '2011'
        else 'unknown'
    end as lsoa_vintage_reported,
    case
        when t.lsoa_code_reported is null then null
        when t.lsoa_code_reported like 'E01%' then null
        when t.lsoa_code_reported in (select lsoa21_code from lsoa21) then t.lsoa_code_reported
        when o.change_code = 'M' then o.merged_into
        when o.change_code = 'S' then sp.lsoa21_code
    end as lsoa21_code,
    case
        when t.lsoa_code_reported is null then 'no_location'
        when t.lsoa_code_reported like 'E01%' then 'outside_wales'
        when t.lsoa_code_reported in (select lsoa21_code from lsoa21) then 'reported_2021_code'
        when o.change_code = 'M' then 'lsoa11_merged'
        when o.change_code = 'S' and sp.lsoa21_code is not null then 'lsoa11_split_' || sp.method
        when o.change_code = 'S' then 'lsoa11_split_unresolved'
        else 'unknown_code'
    end as lsoa21_mapping_method,
    coalesce(t.lsoa_code_reported like 'W01%', false) as is_in_wales,
    t.source_file,
    t.source_row,
    t.load_id
from typed as t
left join {{ ref('police_uk_crime_types') }} as ct
    on t.crime_type = ct.crime_type
left join lsoa11_only as o
    on t.lsoa_code_reported = o.lsoa11_code
left join split_points as sp
    on sp.month = t.month_raw
    and sp.lsoa11_code = t.lsoa_code_reported
    and sp.longitude = t.longitude
    and sp.latitude = t.latitude
