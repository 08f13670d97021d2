{{ config(tags=['tension']) }}
{#-
  Tension report forms (Wrexham model) from current partner files: one row per form.
  Rows of superseded files (a corrected file for the same partner and period arrived) are left out.
  Free text is already redacted and submitter details were never stored (only has_submitter_details).
  Forms have no identifier, so nothing is deduplicated: two forms about the same thing are two reports.
-#}
with reports as (
    select * from {{ source('partner', 'partner_tension_reports') }}
),

files as (
    select * from {{ source('partner', 'partner_files') }}
    where superseded_by is null
)

select
    {{ partner_file_columns('r') }},
    r.submitted_on,
    r.source_type,
    trim(r.area_code) as area_code,
    r.area_description,
    r.community_types,
    r.tension_categories,
    r.information,
    r.has_submitter_details,
    r.contact_consent,
    r.redacted_items
from reports as r
inner join files as f on r.file_id = f.file_id
