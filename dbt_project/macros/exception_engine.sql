{#- The exception engine's SQL half (method: docs block exception_method). The exact statistics are the
    cm_* functions registered by orchestration/lib/dbt_plugin.py; these macros hold the rules around them. -#}

{#- Significance level after false discovery rate control, and the least number of events a count test needs
    (vars in dbt_project.yml, which the report reads too). -#}
{% macro fdr_alpha() %}{{ var('exception_fdr_alpha') }}{% endmacro %}
{% macro min_events() %}{{ var('exception_min_events') }}{% endmacro %}

{#- `select *, <out>` from `relation` adding Benjamini–Hochberg q-values of column `p` within each family
    (a comma-separated column list). Rows with a null p are not in their family and get a null q.
    q_(i) = min over j >= i of m * p_(j) / j, with m the family's number of tests and j the rank of p. -#}
{% macro select_with_bh_q(relation, family, p, out='q_value') -%}
    select
        * exclude (_bh_raw, _bh_rank),
        case when {{ p }} is not null then least(1.0, min(_bh_raw) over (
            partition by {{ family }}, {{ p }} is null order by _bh_rank desc
            rows between unbounded preceding and current row)) end as {{ out }}
    from (
        select
            *,
            {{ p }} * count({{ p }}) over (partition by {{ family }})
                / row_number() over (partition by {{ family }}, {{ p }} is null order by {{ p }}) as _bh_raw,
            row_number() over (partition by {{ family }}, {{ p }} is null order by {{ p }}) as _bh_rank
        from {{ relation }}
    )
{%- endmacro %}
