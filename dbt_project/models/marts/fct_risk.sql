{{ config(tags=['tension']) }}
{#-
  The PPPLEM risk register (guide, Part 3), one row per current risk (partner, risk_id): risks scored as
  likelihood (1–5) × impact (1–5), before and after measures (residual), with the level and next step of
  the seed risk_score_bands. A score of 5 or more needs an action plan.
-#}
with risks as (
    select * from {{ ref('stg_partner__risk_register') }}
),

areas as (
    select * from {{ ref('int_partner__area_levels') }}
),

bands as (
    select * from {{ ref('risk_score_bands') }}
),

scored as (
    select
        *,
        likelihood * impact as score,
        residual_likelihood * residual_impact as residual_score,
        {{ tension_as_of() }} as as_of_date
    from risks
)

select
    s.risk_id::varchar as risk_id,
    s.partner::varchar as partner,
    s.area_code::varchar as area_code,
    {{ partner_area_columns('a') }},
    s.raised_on::date as raised_on,
    s.description::varchar as description,
    s.ppplem_heading::varchar as ppplem_heading,
    s.likelihood::integer as likelihood,
    s.impact::integer as impact,
    s.score::integer as score,
    b.risk_level::varchar as risk_level,
    b.next_step::varchar as next_step,
    s.residual_likelihood::integer as residual_likelihood,
    s.residual_impact::integer as residual_impact,
    s.residual_score::integer as residual_score,
    rb.risk_level::varchar as residual_risk_level,
    (s.residual_score - s.score)::integer as score_change,
    (s.score >= 5)::boolean as action_plan_required,
    (s.score >= 5 and nullif(trim(s.action_plan_ref), '') is null)::boolean as action_plan_missing,
    s.action_plan_ref::varchar as action_plan_ref,
    s.owner_role::varchar as owner_role,
    s.review_due::date as review_due,
    s.status::varchar as status,
    (s.status = 'open' and s.review_due < s.as_of_date)::boolean as is_review_overdue,
    s.as_of_date::date as as_of_date,
    s.file_id::varchar as file_id,
    s.sheet::varchar as sheet,
    s.row_number::integer as row_number
from scored as s
left join areas as a on s.area_code = a.area_code
left join bands as b on s.score between b.min_score and b.max_score
left join bands as rb on s.residual_score between rb.min_score and rb.max_score
order by s.partner, s.risk_id
