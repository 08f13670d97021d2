{#- dbt deps cannot reach dbt Hub here, so the few generic tests we need live in this project. -#}

{% test unique_combination_of_columns(model, combination_of_columns) %}
select {{ combination_of_columns | join(', ') }}, count(*) as n_rows
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1
{% endtest %}

{% test expression_is_true(model, expression, where=none, column_name=none) %}
select *
from {{ model }}
where not ({{ expression }})
{%- if where %} and ({{ where }}){% endif %}
{% endtest %}

{% test row_count_between(model, min_rows, max_rows) %}
select n from (select count(*) as n from {{ model }}) as t
where n < {{ min_rows }} or n > {{ max_rows }}
{% endtest %}
