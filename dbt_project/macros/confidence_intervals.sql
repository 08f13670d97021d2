{#- 95% confidence intervals, as Public Health England's Fingertips computes them.
    Wilson score interval for a proportion k / n (returned as a proportion, 0–1).
    Byar's approximation to the exact Poisson interval for a count k (returned as a count);
    within about 1% of the exact (Garwood) limits for k >= 1, and exact-enough at k = 0
    (lower 0, upper 3.67 vs 3.69). -#}

{% macro wilson_lower(k, n, z=1.959963984540054) -%}
    case when {{ n }} > 0 then
        (2 * {{ k }} + {{ z }} ^ 2 - {{ z }} * sqrt({{ z }} ^ 2 + 4 * {{ k }} * (1 - {{ k }} / {{ n }})))
        / (2 * ({{ n }} + {{ z }} ^ 2))
    end
{%- endmacro %}

{% macro wilson_upper(k, n, z=1.959963984540054) -%}
    case when {{ n }} > 0 then
        (2 * {{ k }} + {{ z }} ^ 2 + {{ z }} * sqrt({{ z }} ^ 2 + 4 * {{ k }} * (1 - {{ k }} / {{ n }})))
        / (2 * ({{ n }} + {{ z }} ^ 2))
    end
{%- endmacro %}

{% macro byar_lower(k, z=1.959963984540054) -%}
    case when {{ k }} <= 0 then 0.0
         else {{ k }} * (1 - 1 / (9 * {{ k }}) - {{ z }} / (3 * sqrt({{ k }}))) ^ 3 end
{%- endmacro %}

{% macro byar_upper(k, z=1.959963984540054) -%}
    ({{ k }} + 1) * (1 - 1 / (9 * ({{ k }} + 1)) + {{ z }} / (3 * sqrt({{ k }} + 1))) ^ 3
{%- endmacro %}
