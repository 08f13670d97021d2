{{ config(tags=['tension', 'shared']) }}
{#-
  The shared tier (guide, Part 3): the edited version of the incident data that may go to Bronze and partner
  agencies. Incident counts per local authority × calendar quarter × broad incident group (seed
  incident_groups) plus an 'all' row, with small counts suppressed. Counts only: no ids, no free text, no
  area below the local authority, nothing from tension reports or assessments, and no reason for a
  suppression (it would say which hidden cells are the small ones). The decision is made in
  int_shared__incident_suppression; the rule is the docs block shared_tier_suppression (shared_tier.md).
-#}
with decided as (
    select * from {{ ref('int_shared__incident_suppression') }}
)

select
    la_code::varchar as la_code,
    la_name::varchar as la_name,
    quarter::varchar as quarter,
    quarter_start::date as quarter_start,
    incident_group::varchar as incident_group,
    incident_group_label::varchar as incident_group_label,
    (case when not is_suppressed then true_count end)::integer as incident_count,
    is_suppressed::boolean as is_suppressed,
    disclosure_threshold::integer as disclosure_threshold
from decided
order by la_code, quarter_start, is_total, incident_group
