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

{#- ---------------------------------------------------------------------------------------------------------
    Change between two figures of one area (fct_indicator_change: each period against an earlier one;
    mart_cohesion_profile: the latest period or 12-month window against the benchmark). One set of rules:
    arguments are SQL expressions for the later figure (k1 = numerator, n1 = denominator, lci1 / uci1 = its
    95% interval) and the earlier one (k0, n0, lci0, uci0); pair_method = the two figures' common ci_method
    ('mixed' when they differ); scale = the unit's multiplier (macro unit_scale: 1000 for crime rates per 1,000
    person-years, 100 for percentages).
-#}

{#- Which test the pair gets, or why it gets none ('not tested: ...'). Rows not tested are not in their family. -#}
{% macro change_test_method(pair_method, k1, n1, k0, n0, lci1, uci1, lci0, uci0, is_series_break, is_unreliable, is_estimated) -%}
    case
        when {{ is_series_break }} then 'not tested: series break'
        when {{ is_unreliable }} then 'not tested: the source calls a figure unreliable'
        when {{ is_estimated }}
            then 'not tested: a figure is estimated (a 2011 LSOA split across the 2021 boundaries, shared out by population, not counted)'
        when {{ pair_method }} = 'poisson_exact' and {{ k1 }} + {{ k0 }} < {{ min_events() }}
            then 'not tested: fewer than {{ min_events() }} events in the two periods'
        when {{ pair_method }} = 'poisson_exact' then 'exact conditional Poisson (two-sided)'
        when {{ pair_method }} = 'wilson' and least({{ k1 }}, {{ n1 }} - {{ k1 }}, {{ k0 }}, {{ n0 }} - {{ k0 }}) < {{ min_events() }}
            then 'not tested: fewer than {{ min_events() }} in a cell'
        when {{ pair_method }} = 'wilson' then 'two-proportion z (pooled; census natural variation)'
        when {{ pair_method }} = 'published' and {{ uci1 }} >= {{ lci1 }} and {{ uci0 }} >= {{ lci0 }} then 'published interval z'
        when {{ pair_method }} in ('none', 'mixed', 'published') then 'not tested: no interval for a figure'
        else 'not tested'
    end
{%- endmacro %}

{#- The two-sided p-value of the test change_test_method chose (null when none): the exact conditional test of
    two Poisson counts given their total, with the null share the later figure's share of the exposure
    (person-years); the pooled two-proportion z-test; z from the published intervals. -#}
{% macro change_p_value(test_method, k1, n1, k0, n0, value1, value0, lci1, uci1, lci0, uci0) -%}
    case
        when {{ test_method }} like 'exact conditional%'
            then cm_binom_two_sided_p({{ k1 }}, {{ k1 }} + {{ k0 }}, {{ n1 }} / ({{ n1 }} + {{ n0 }}))
        when {{ test_method }} like 'two-proportion%' then
            case when ({{ k1 }} + {{ k0 }}) / ({{ n1 }} + {{ n0 }}) in (0, 1) then 1.0
                 else cm_normal_two_sided_p(
                     ({{ k1 }} / {{ n1 }} - {{ k0 }} / {{ n0 }})
                     / sqrt(({{ k1 }} + {{ k0 }}) / ({{ n1 }} + {{ n0 }}) * (1 - ({{ k1 }} + {{ k0 }}) / ({{ n1 }} + {{ n0 }}))
                            * (1 / {{ n1 }} + 1 / {{ n0 }}))) end
        when {{ test_method }} = 'published interval z' then
            case when ({{ uci1 }} - {{ lci1 }}) ^ 2 + ({{ uci0 }} - {{ lci0 }}) ^ 2 > 0
                 then cm_normal_two_sided_p(({{ value1 }} - {{ value0 }})
                      / (sqrt(({{ uci1 }} - {{ lci1 }}) ^ 2 + ({{ uci0 }} - {{ lci0 }}) ^ 2) / 3.919927969080108))
                 else 1.0 end
    end
{%- endmacro %}

{#- Approximate (normal) standard error of the change, in the indicator's unit, for its displayed 95% interval. -#}
{% macro change_se(test_method, k1, n1, k0, n0, lci1, uci1, lci0, uci0, scale) -%}
    case
        when {{ test_method }} like 'exact conditional%'
            then {{ scale }} * sqrt({{ k1 }} / {{ n1 }} ^ 2 + {{ k0 }} / {{ n0 }} ^ 2)
        when {{ test_method }} like 'two-proportion%'
            then {{ scale }} * sqrt({{ k1 }} / {{ n1 }} * (1 - {{ k1 }} / {{ n1 }}) / {{ n1 }}
                                    + {{ k0 }} / {{ n0 }} * (1 - {{ k0 }} / {{ n0 }}) / {{ n0 }})
        when {{ test_method }} = 'published interval z'
            then sqrt(({{ uci1 }} - {{ lci1 }}) ^ 2 + ({{ uci0 }} - {{ lci0 }}) ^ 2) / 3.919927969080108
    end
{%- endmacro %}

{#- Rapid change: significant after FDR AND at least the catalogue's change_threshold AND not across a series
    break AND no figure unreliable or estimated (an untested row has a null q and is never rapid). -#}
{% macro is_rapid_change(q_value, change, threshold, is_series_break='false', is_unreliable='false') -%}
    coalesce({{ q_value }} < {{ fdr_alpha() }} and abs({{ change }}) >= {{ threshold }}
             and not {{ is_series_break }} and not {{ is_unreliable }}, false)
{%- endmacro %}
