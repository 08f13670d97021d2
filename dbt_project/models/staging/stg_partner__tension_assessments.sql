{{ config(tags=['tension']) }}
{#-
  The tension monitoring group's ratings from current partner files: one row per
  (area_code, community_type, assessment_date).
  A file holds each key once (the validator rejects repeats); should two current files both carry it
  (a yearly and a quarterly file, or two partners' copies of the group's minutes), the row from the
  latest period, then the latest received file, wins, so each rating is counted once in trends.
-#}
with assessments as (
    select * from {{ source('partner', 'partner_tension_assessments') }}
),

files as (
    select * from {{ source('partner', 'partner_files') }}
    where superseded_by is null
)

select
    {{ partner_file_columns('a') }},
    a.assessment_date,
    a.period_start,
    a.period_end,
    trim(a.area_code) as area_code,
    a.community_type,
    a.scale,
    lower(trim(a.current_grade)) as current_grade,
    lower(trim(a.potential_grade)) as potential_grade,
    a.rationale,
    a.assessed_by_role,
    a.redacted_items
from assessments as a
inner join files as f on a.file_id = f.file_id
{{ latest_partner_row("trim(a.area_code), a.community_type, a.assessment_date", 'a') }}
