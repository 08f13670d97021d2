{{ config(tags=['tension']) }}
{#-
  Incidents from current partner files: one row per (partner, source_organisation, incident_ref).
  An extract may repeat an incident that an earlier period's file already sent (a late update, a change
  of type): the row from the latest period (latest period_end, then the latest received file) wins.
-#}
with incidents as (
    select * from {{ source('partner', 'partner_incidents') }}
),

files as (
    select * from {{ source('partner', 'partner_files') }}
    where superseded_by is null
)

select
    {{ partner_file_columns('i') }},
    i.source_organisation,
    i.incident_ref,
    i.occurred_on,
    i.reported_on,
    trim(i.area_code) as area_code,
    i.incident_type,
    i.hate_strands,
    i.community_type,
    i.description,
    i.redacted_items
from incidents as i
inner join files as f on i.file_id = f.file_id
{{ latest_partner_row("f.partner, i.source_organisation, i.incident_ref", 'i') }}
