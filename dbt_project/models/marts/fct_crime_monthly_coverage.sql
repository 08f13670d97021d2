-- Reconciliation of every loaded police.uk row, per force and month: where each row went.
-- rows_in_file = rows_total + repeated_crime_id_rows_dropped: a Crime ID counts once per month (the row
-- with the latest outcome; stg_police_uk__street_crimes.is_counted), so a file's repeated rows of one
-- Crime ID are dropped from the counts (not from the warehouse). Every other rows_* column counts the
-- counted records only, so they add up to what fct_crime_monthly counts:
-- rows_total = rows_in_welsh_lsoa + rows_outside_wales + rows_no_location + rows_unmapped.
-- Incremental by month (macros/incremental_months.sql).
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='month',
          on_schema_change='fail', pre_hook="{{ police_months_reset() }}") }}
select
    force_id::varchar as force_id,
    month::date as month,
    count(*)::integer as rows_in_file,
    count(*) filter (where not is_counted)::integer as repeated_crime_id_rows_dropped,
    count(*) filter (where is_counted)::integer as rows_total,
    count(*) filter (where is_counted and crime_type = 'Anti-social behaviour')::integer as rows_asb,
    count(*) filter (where is_counted and crime_id is null)::integer as rows_without_crime_id,
    count(*) filter (where is_counted and crime_id_rows_in_month > 1)::integer as repeated_crime_ids,
    count(*) filter (where is_counted and lsoa21_code is not null)::integer as rows_in_welsh_lsoa,
    count(*) filter (where is_counted and lsoa21_mapping_method = 'outside_wales')::integer as rows_outside_wales,
    count(*) filter (where is_counted and lsoa21_mapping_method = 'no_location')::integer as rows_no_location,
    count(*) filter (where is_counted and lsoa21_code is null
                     and lsoa21_mapping_method not in ('outside_wales', 'no_location'))::integer as rows_unmapped,
    count(*) filter (where is_counted and lsoa_vintage_reported = '2021')::integer as rows_reported_lsoa21,
    count(*) filter (where is_counted and lsoa_vintage_reported = '2011')::integer as rows_reported_lsoa11_only,
    count(*) filter (where is_counted and lsoa21_mapping_method = 'lsoa11_merged')::integer as rows_lsoa11_merged,
    count(*) filter (where is_counted
                     and lsoa21_mapping_method like 'lsoa11_split_point_in%')::integer as rows_lsoa11_split_in_polygon,
    count(*) filter (where is_counted
                     and lsoa21_mapping_method like 'lsoa11_split_nearest%')::integer as rows_lsoa11_split_nearest
from {{ ref('stg_police_uk__street_crimes') }}
where {{ police_months_filter("month", is_date=true) }}
group by force_id, month
order by force_id, month
