{{ config(tags=['tension']) }}
{#-
  The suppression decision behind the shared tier (marts.shared_incident_summary), with the true counts and
  the reason for each hidden cell. Not for sharing: the reason says which hidden cells are small and the
  true counts are the figures being withheld. Per local authority × calendar quarter: four incident groups
  (seed incident_groups) and their total ('all'). The rule and why no hidden cell can be worked out: docs
  block shared_tier_suppression (models/marts/shared_tier.md).
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

-- per line: the total, the primary group cells (1 to threshold − 1) and the smallest group count at or
-- above the threshold (the next cells to hide when the primaries alone are not protected)
line_facts as (
    select
        *,
        max(true_count) filter (where is_total) over lq as total_count,
        count(*) filter (where not is_total and true_count between 1 and {{ threshold - 1 }}) over lq as primaries,
        sum(true_count) filter (where not is_total and true_count between 1 and {{ threshold - 1 }}) over lq as primaries_sum,
        min(true_count) filter (where not is_total and true_count between 1 and {{ threshold - 1 }}) over lq as primaries_min,
        max(true_count) filter (where not is_total and true_count between 1 and {{ threshold - 1 }}) over lq as primaries_max,
        min(true_count) filter (where not is_total and true_count >= {{ threshold }}) over lq as next_count
    from cells
    window lq as (partition by la_code, quarter_start)
),

line_rules as (
    select
        *,
        case
            -- nothing small to protect
            when total_count = 0 or primaries = 0 then 'none'
            -- the total is itself from 1 to threshold − 1
            when total_count < {{ threshold }} then 'line'
            -- the primaries alone: at least two, adding up to at least the threshold, and not all equal to 1
            -- or all equal to threshold − 1 (either would let a reader work every one of them out)
            when primaries >= 2
                and primaries_sum >= {{ threshold }}
                and not (primaries_min = primaries_max and primaries_min in (1, {{ threshold - 1 }}))
                then 'primaries'
            -- else the primaries and every group cell holding the smallest count at or above the threshold
            when next_count is not null then 'primaries_and_next'
            -- no such cell (every non-zero group is primary): the whole line, total included
            else 'line'
        end as line_rule
    from line_facts
),

suppressed as (
    select
        *,
        case
            when line_rule = 'none' then null
            when true_count between 1 and {{ threshold - 1 }} then 'primary'
            when line_rule = 'line' then 'secondary'
            when line_rule = 'primaries_and_next' and not is_total and true_count = next_count then 'secondary'
        end as suppression
    from line_rules
)

select
    la_code::varchar as la_code,
    la_name::varchar as la_name,
    {{ tension_quarter('quarter_start') }}::varchar as quarter,
    quarter_start::date as quarter_start,
    incident_group::varchar as incident_group,
    incident_group_label::varchar as incident_group_label,
    is_total::boolean as is_total,
    true_count::integer as true_count,
    (suppression is not null)::boolean as is_suppressed,
    suppression::varchar as suppression,
    {{ threshold }}::integer as disclosure_threshold
from suppressed
order by la_code, quarter_start, is_total, incident_group
