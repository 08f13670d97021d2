{{ config(tags=['tension']) }}
{#-
  Tension report forms (Wrexham model; guide, Part 3), one row per form in a current partner file, placed
  at every geography level. Free text arrives redacted; no submitter column exists anywhere in the
  warehouse (only whether details were given, and whether the submitter may be contacted).
-#}
with reports as (
    select * from {{ ref('stg_partner__tension_reports') }}
),

areas as (
    select * from {{ ref('int_partner__area_levels') }}
)

select
    -- the form's place in the partner file: file:row for a CSV, file:sheet!row for a workbook's sheet
    (r.file_id || ':' || case when r.sheet = '' then '' else r.sheet || '!' end || r.row_number::varchar)::varchar
        as report_id,
    r.partner::varchar as partner,
    r.submitted_on::date as submitted_on,
    date_trunc('month', r.submitted_on)::date as month,
    {{ tension_quarter('r.submitted_on') }}::varchar as quarter,
    r.source_type::varchar as source_type,
    r.area_code::varchar as area_code,
    {{ partner_area_columns('a') }},
    r.community_types::varchar[] as community_types,
    array_to_string(r.community_types, '; ')::varchar as community_types_text,
    r.tension_categories::varchar[] as tension_categories,
    array_to_string(r.tension_categories, '; ')::varchar as tension_categories_text,
    r.information::varchar as information,
    r.area_description::varchar as area_description,
    r.has_submitter_details::boolean as has_submitter_details,
    r.contact_consent::boolean as contact_consent,
    r.redacted_items::integer as redacted_items,
    r.file_id::varchar as file_id,
    r.sheet::varchar as sheet,
    r.row_number::integer as row_number
from reports as r
left join areas as a on r.area_code = a.area_code
order by r.submitted_on, report_id
