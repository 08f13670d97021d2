{{ config(tags=['tension', 'shared']) }}
{#-
  The shared tier (guide, Part 3): the edited version of the incident data that may go to Bronze and partner
  agencies. Incident counts per local authority × calendar quarter × broad incident group (seed
  incident_groups) plus an 'all' row, with small counts suppressed. Counts only: no ids, no free text, no
  area below the local authority, nothing from tension reports or assessments. The rule is the docs block
  shared_tier_suppression (shared_tier.md).
-#}
{%- set threshold = var('disclosure_threshold', 5) | int -%}
{%- if threshold < 1 -%}
    {{ exceptions.raise_compiler_error("var disclosure_threshold must be an integer >= 1, got " ~ var('disclosure_threshold', 5)) }}
{%- endif %}
with incidents as (
    select la_code, la_name, occurred_on, incident_type
    from {{ ref('fct_incident') }}
    where la_code is not null
),

incident_groups as (
    select * from {{ ref('incident_groups') }}
),

groups as (
    select incident_group, any_value(incident_group_label) as incident_group_label
    from incident_groups
    group by incident_group
    union
    -- an incident of a type the seed does not list counts as other
    select 'other', 'Other incidents'
    where not exists (select 1 from incident_groups where incident_group = 'other')
),

local_authorities as (
    select la_code, any_value(la_name) as la_name from incidents group by la_code
),

bounds as (
    select
        date_trunc('quarter', min(occurred_on))::date as first_quarter,
        date_trunc('quarter', max(occurred_on))::date as last_quarter
    from incidents
),

quarters as (
    select q::date as quarter_start
    from bounds, unnest(generate_series(first_quarter, last_quarter, interval 3 month)) as t(q)
    where first_quarter is not null
),

counted as (
    select
        i.la_code,
        date_trunc('quarter', i.occurred_on)::date as quarter_start,
        coalesce(g.incident_group, 'other') as incident_group,
        count(*) as n
    from incidents as i
    left join incident_groups as g on i.incident_type = g.incident_type
    group by all
),

-- every LA with an incident × every quarter of the window × every group, zeros filled
group_cells as (
    select
        la.la_code,
        la.la_name,
        q.quarter_start,
        g.incident_group,
        g.incident_group_label,
        coalesce(c.n, 0) as true_count,
        false as is_total
    from local_authorities as la
    cross join quarters as q
    cross join groups as g
    left join counted as c
        on la.la_code = c.la_code and q.quarter_start = c.quarter_start and g.incident_group = c.incident_group
),

cells as (
    select * from group_cells
    union all
    select la_code, any_value(la_name), quarter_start, 'all', 'All incidents', sum(true_count), true
    from group_cells
    group by la_code, quarter_start
),

primary_flagged as (
    select
        *,
        true_count between 1 and {{ threshold - 1 }} as is_primary,
        max(true_count) filter (where is_total) over lq as total_count,
        count(*) filter (where not is_total and true_count between 1 and {{ threshold - 1 }}) over lq as group_primaries
    from cells
    window lq as (partition by la_code, quarter_start)
),

-- candidates for secondary suppression: group rows that are shown so far and not zero, smallest first
ranked as (
    select
        *,
        case when not is_total and not is_primary and true_count > 0 then
            row_number() over (
                partition by la_code, quarter_start, (not is_total and not is_primary and true_count > 0)
                order by true_count, incident_group
            )
        end as candidate_rank
    from primary_flagged
),

suppressed as (
    select
        *,
        case
            when is_primary then 'primary'
            -- the total is itself suppressed: hide every group row (zeros too)
            when total_count between 1 and {{ threshold - 1 }} then 'secondary'
            -- the total is shown and one group row alone is hidden: hide the next smallest as well
            when group_primaries = 1 and candidate_rank = 1 then 'secondary'
        end as suppression
    from ranked
)

select
    la_code::varchar as la_code,
    la_name::varchar as la_name,
    {{ tension_quarter('quarter_start') }}::varchar as quarter,
    quarter_start::date as quarter_start,
    incident_group::varchar as incident_group,
    incident_group_label::varchar as incident_group_label,
    (case when suppression is null then true_count end)::integer as incident_count,
    (suppression is not null)::boolean as is_suppressed,
    suppression::varchar as suppression,
    {{ threshold }}::integer as disclosure_threshold
from suppressed
order by la_code, quarter_start, is_total, incident_group
