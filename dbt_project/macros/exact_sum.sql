{#- A sum of doubles that is the same however DuckDB splits the rows across threads: the values are added as
    DECIMAL(38, 12) (exact, so the order does not matter) and the total turned back into a double. A plain
    sum(double) in parallel can differ in the last digit between two builds of the same data. -#}
{% macro exact_sum(expr) -%}
    sum(({{ expr }})::decimal(38, 12))::double
{%- endmacro %}
