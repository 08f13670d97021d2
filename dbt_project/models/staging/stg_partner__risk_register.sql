{{ config(tags=['tension']) }}
{#-
  The PPPLEM risk register from current partner files: one row per (partner, risk_id).
  The register is a snapshot: the Q1 and Q2 registers both list RISK-001 while it is open. The row from
  the latest period (latest period_end, then the latest received file) is the risk's current state.
-#}
with risks as (
    select * from {{ source('partner', 'partner_risk_register') }}
),

files as (
    select * from {{ source('partner', 'partner_files') }}
    where superseded_by is null
)

select
    {{ partner_file_columns('r') }},
    r.risk_id,
    trim(r.area_code) as area_code,
    r.raised_on,
    r.description,
    r.ppplem_heading,
    r.likelihood,
    r.impact,
    r.residual_likelihood,
    r.residual_impact,
    r.action_plan_ref,
    r.owner_role,
    r.review_due,
    r.status,
    r.redacted_items
from risks as r
inner join files as f on r.file_id = f.file_id
{{ latest_partner_row("f.partner, r.risk_id", 'r') }}
