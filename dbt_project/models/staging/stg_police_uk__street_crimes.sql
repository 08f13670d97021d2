{#-
  One row per police.uk street-level record, typed and cleaned, with its 2021 LSOA.

  Every raw row is kept (nothing is dropped here):
  - record_key (force, month, line in the file) identifies a row: anti-social behaviour rows have no
    Crime ID, and police.uk files repeat some Crime IDs within a month (Gwent: 513 extra rows in 2023-01,
    201 in 2024-05; same crime type, some differing in outcome and, in 2024-05, in snap point and LSOA);
  - rows with no location keep has_location = false and no LSOA;
  - English (E01) LSOAs at the border are kept with is_in_wales = false;
  - 2011 LSOA codes (2022 files mix vintages) are bridged with the ONS exact-fit lookup:
      unchanged (U) codes are the same in both vintages;
      merged (M): several 2011 LSOAs became one 2021 LSOA, so the code maps to that one;
      split (S): one 2011 LSOA became several, so the snap point decides the child
      (raw.police_uk_split_points, computed at ingestion against the 2021 boundaries).

  Counting rule (is_counted; the marts count only is_counted rows):
  - a Crime ID counts once per month: of the rows with the same crime_id and month, exactly one is
    counted (crime_id_rows_in_month says how many there are); every row without a Crime ID (ASB) counts;
  - the counted row is the one with the latest outcome: last_outcome_category ranked
      0 null or empty < 1 'Status update unavailable' < 2 'Under investigation' < 3 any other outcome
      (a court or final outcome);
    ties go to the later load (loaded_at: the same Crime ID in two files of one month), then to the later
    row in the file (highest source_row), then to load_id and record_key, so the choice is deterministic;
  - the row counted also decides where the crime is placed (its LSOA);
  - a row not counted keeps duplicate_of_record_key = the record_key of the row that is counted;
  - the same Crime ID in two different months counts in each month (every rule here is within a month).

  Incremental by month: a table, not a view (the window functions over every loaded month would otherwise
  be recomputed by each of its tests and by every model that reads it), rebuilt whole by a full build
  (--full-refresh) and, when a build loaded only some police.uk months, rebuilt for those months alone
  (delete+insert by month; macro police_months_filter).
-#}
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='month',
          on_schema_change='fail', pre_hook="{{ police_months_reset() }}") }}

with crimes as (
    select * from {{ source('raw', 'police_uk_street_crimes') }}
    where {{ police_months_filter("month") }}
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
        case when crime_id is not null then count(*) over (partition by crime_id, month) end as crime_id_rows_in_month,
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
        load_id,
        loaded_at,
        case
            when nullif(trim(last_outcome_category), '') is null then 0
            when trim(last_outcome_category) = 'Status update unavailable' then 1
            when trim(last_outcome_category) = 'Under investigation' then 2
            else 3
        end as outcome_rank
    from crimes
),

-- one row per (crime_id, month) is counted: the latest outcome, then the later load, then the later line
ranked as (
    select
        *,
        case when crime_id is not null then
            first_value(record_key) over (
                partition by crime_id, month_raw
                order by outcome_rank desc, loaded_at desc, source_row desc, load_id desc, record_key desc
            )
        end as counted_record_key
    from typed
)

select
    t.record_key,
    t.crime_id,
    t.crime_id_rows_in_month,
    (t.crime_id is null or t.record_key = t.counted_record_key) as is_counted,
    case when t.crime_id is not null and t.record_key <> t.counted_record_key then t.counted_record_key end
        as duplicate_of_record_key,
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
from ranked as t
left join {{ ref('police_uk_crime_types') }} as ct
    on t.crime_type = ct.crime_type
left join lsoa11_only as o
    on t.lsoa_code_reported = o.lsoa11_code
left join split_points as sp
    -- one row per force, month, 2011 code and snap point: two forces can record crimes at the same point
    on sp.force_id = t.force_id
    and sp.month = t.month_raw
    and sp.lsoa11_code = t.lsoa_code_reported
    and sp.longitude = t.longitude
    and sp.latitude = t.latitude
