{#- 95% confidence intervals.
    Wilson score interval for a proportion k / n (returned as a proportion, 0–1): used for census shares
    under the "natural variation" convention (Public Health England / ONS: a census count is complete, but
    the rate it measures is treated as the outcome of a process subject to chance, so that areas of very
    different size are compared fairly; see the exception_method docs block).
    Exact (Garwood) Poisson interval for a count k (returned as a count), from the exception engine's
    cm_poisson_lower_limit / cm_poisson_upper_limit functions (orchestration/lib/stats.py): exact at every
    k, so no approximation error at 1-3 events (Byar's approximation put the lower limit 48% below the
    exact one at k = 1). -#}

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

{% macro poisson_lower(k) -%}
    cm_poisson_lower_limit({{ k }})
{%- endmacro %}

{% macro poisson_upper(k) -%}
    cm_poisson_upper_limit({{ k }})
{%- endmacro %}
