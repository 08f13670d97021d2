{#- Reading indicator figures the same way in every mart. -#}

{#- Fingertips (Public Health England) comparison of a value's 95% interval with a benchmark value. -#}
{% macro fingertips_comparison(lci, uci, benchmark) -%}
    case when {{ lci }} is null or {{ uci }} is null or {{ benchmark }} is null then 'not compared'
         when {{ lci }} > {{ benchmark }} then 'higher'
         when {{ uci }} < {{ benchmark }} then 'lower'
         else 'similar' end
{%- endmacro %}

{#- What a comparison means for cohesion, by the catalogue's polarity (a rise in a risk proxy is
    worse, in a protective proxy better; context proxies keep higher / lower). -#}
{% macro polarity_assessment(comparison, polarity) -%}
    case when {{ comparison }} in ('not compared', 'similar') then {{ comparison }}
         when {{ polarity }} = 'risk' then case {{ comparison }} when 'higher' then 'worse' else 'better' end
         when {{ polarity }} = 'protective' then case {{ comparison }} when 'higher' then 'better' else 'worse' end
         else {{ comparison }} end
{%- endmacro %}

{#- The statistical series a figure belongs to, from its source_release: figures from different series
    (ONS mid-year estimates vs a census) are not compared for change. -#}
{% macro source_series(column) -%}
    case when {{ column }} like 'ONS small area population estimates%' then 'ons_sape'
         when {{ column }} like 'Census 20%' then 'census'
         when {{ column }} like 'Welsh Index of Multiple Deprivation%' then 'wimd'
         else {{ column }} end
{%- endmacro %}
