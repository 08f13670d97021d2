{#- Reading indicator figures the same way in every mart. -#}

{#- The benchmark verdict itself (interval + materiality) is macro benchmark_comparison in benchmark_rules.sql. -#}

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
         when {{ column }} like 'Welsh Index of Multiple Deprivation 2019%' then 'wimd2019'
         when {{ column }} like 'Welsh Index of Multiple Deprivation 2025%' then 'wimd2025'
         when {{ column }} like 'data.police.uk%' then 'police_uk'
         when {{ column }} like 'ONS Explore Local Statistics%' then 'ons_els'
         else {{ column }} end
{%- endmacro %}

{#- The multiplier of an indicator's unit: value = scale × numerator / denominator. Every rate names its
    base and its time (per_1000_person_years: crimes per 1,000 residents per year of exposure; the monthly
    crime table states per_1000_per_month in its own rate_unit column). -#}
{% macro unit_scale(unit) -%}
    case when {{ unit }} like 'per_1000\_%' escape '\' or {{ unit }} = 'per_1000' then 1000.0
         when {{ unit }} like 'per_million%' then 1000000.0
         else 100.0 end
{%- endmacro %}
