{#- How every benchmark verdict is reached (fct_indicator_benchmark, mart_cohesion_profile): one rule, here.
    See the exception_method docs block, point 3 ("material, not trivia") and point 6 ("reliable figures
    only").

    benchmark_comparison: the area's 95% interval against the benchmark VALUE (Public Health England's
    Fingertips practice: the benchmark's own interval is not used), plus a MATERIALITY rule:
      'not compared'  the figure is flagged unreliable by its source (status = 'unreliable'), or it has no
                      interval (a share of areas, a value published without one), or there is no benchmark;
      'higher'        lci > benchmark AND value − benchmark ≥ threshold;
      'lower'         uci < benchmark AND benchmark − value ≥ threshold;
      'similar'       otherwise: the interval includes the benchmark, or the difference is smaller than the
                      catalogue's change_threshold (in the indicator's unit) however narrow the interval.
    A null threshold means no materiality rule (interval only); every catalogue row has one today.
    The arguments are SQL expressions; status may be omitted. -#}
{% macro benchmark_comparison(lci, uci, value, benchmark, threshold, status=none) -%}
    case when {% if status is not none %}coalesce({{ status }}, '') = 'unreliable' or {% endif -%}
              {{ lci }} is null or {{ uci }} is null or {{ value }} is null or {{ benchmark }} is null
             then 'not compared'
         when {{ lci }} > {{ benchmark }} and {{ value }} - {{ benchmark }} >= coalesce({{ threshold }}, 0)
             then 'higher'
         when {{ uci }} < {{ benchmark }} and {{ benchmark }} - {{ value }} >= coalesce({{ threshold }}, 0)
             then 'lower'
         else 'similar' end
{%- endmacro %}

{#- Is the catalogue's caveat text saying that the indicator is not age-standardised (e.g. % disabled)? -#}
{% macro is_not_age_standardised(caveats) -%}
    coalesce(lower({{ caveats }}) like '%not age-standardised%' or lower({{ caveats }}) like '%not age-standardized%', false)
{%- endmacro %}

{#- Why a verdict is what it is, when that is not plain from the numbers: the reasons that apply, '; '-joined,
    or null. Same arguments as benchmark_comparison, plus the catalogue caveats. -#}
{% macro benchmark_comparison_note(lci, uci, value, benchmark, threshold, status, caveats) -%}
    nullif(concat_ws('; ',
        case when coalesce({{ status }}, '') = 'unreliable'
             then 'not compared: the source flags this figure as unreliable (e.g. an APS estimate on a small sample)' end,
        case when coalesce({{ status }}, '') <> 'unreliable' and {{ value }} is null
             then 'not compared: no value' end,
        case when coalesce({{ status }}, '') <> 'unreliable' and {{ value }} is not null
                  and ({{ lci }} is null or {{ uci }} is null)
             then 'not compared: no 95% interval (none published, or a complete count such as a share of areas)' end,
        case when coalesce({{ status }}, '') <> 'unreliable' and {{ value }} is not null and {{ benchmark }} is null
             then 'not compared: no benchmark value for the period' end,
        case when coalesce({{ status }}, '') <> 'unreliable' and {{ benchmark }} is not null
                  and (({{ lci }} > {{ benchmark }}) or ({{ uci }} < {{ benchmark }}))
                  and abs({{ value }} - {{ benchmark }}) < coalesce({{ threshold }}, 0)
             then 'similar: the interval excludes the benchmark but the difference ('
                  || printf('%.2f', {{ value }} - {{ benchmark }}) || ') is below the materiality threshold ('
                  || printf('%g', {{ threshold }}) || ')' end,
        case when {{ is_not_age_standardised(caveats) }}
             then 'not age-standardised: areas with older populations score higher, so the comparison partly reflects age' end
    ), '')
{%- endmacro %}
