{{ config(tags=['tension']) }}
{#-
  The Community Impact Assessment log from current partner files: one row per (partner, cia_id).
  The log is a register: every file is a snapshot of all CIAs, so the Q1 and Q2 files both list a CIA
  that was open across the quarters. The row from the latest period (latest period_end, then the latest
  received file) is the CIA's current state.
-#}
with cias as (
    select * from {{ source('partner', 'partner_community_impact_assessments') }}
),

files as (
    select * from {{ source('partner', 'partner_files') }}
    where superseded_by is null
)

select
    {{ partner_file_columns('c') }},
    c.cia_id,
    c.trigger,
    c.triggered_on,
    trim(c.area_code) as area_code,
    c.community_types,
    c.subject,
    c.status,
    c.completed_on,
    c.overall_risk,
    c.redacted_items
from cias as c
inner join files as f on c.file_id = f.file_id
{{ latest_partner_row("f.partner, c.cia_id", 'c') }}
