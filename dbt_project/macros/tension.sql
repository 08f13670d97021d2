{#- Shared rules of the tension marts (guide, Part 3). -#}

{#- The date the marts are "as of": --vars '{as_of_date: 2024-06-30}' (Dagster passes COHESION_AS_OF_DATE),
    else today. Overdue CIAs, CIA ages and overdue risk reviews are measured against it. -#}
{% macro tension_as_of() -%}
    {%- set v = var('as_of_date', none) -%}
    {%- if v is none or (v | string | trim) in ('', 'None', 'none', 'null') -%}
        current_date
    {%- else -%}
        cast('{{ v | string | trim }}' as date)
    {%- endif -%}
{%- endmacro %}

{#- '2024-Q2' for a date. -#}
{% macro tension_quarter(d) -%}
    (year({{ d }})::varchar || '-Q' || quarter({{ d }})::varchar)
{%- endmacro %}

{#- Rank of a four-level grade: 1 = high tension ... 4 = no tensions (sorts like the EEP grade). -#}
{% macro level4_rank(level4) -%}
    case {{ level4 }} when 'high' then 1 when 'medium' then 2 when 'low' then 3 when 'none' then 4 end
{%- endmacro %}

{#- An EEP grade standing for a four-level grade when the two scales must be compared on one number:
    high → 2 (High), medium → 4 (Moderate, low), low → 5 (Raised), none → 6 (Normal). Grade 1 (imminent)
    and 3 are never implied: the four-level scale cannot say them. -#}
{% macro level4_to_eep(level4) -%}
    case {{ level4 }} when 'high' then 2 when 'medium' then 4 when 'low' then 5 when 'none' then 6 end
{%- endmacro %}

{#- Poisson upper tail P(X >= n | lambda), the survival function, in SQL. 1 when n <= 0; 0 when lambda <= 0
    (and n > 0); null when lambda is null. Two sums so that neither loses the answer to rounding:
    - n <= lambda: 1 - sum_{k<n} pmf(k). The tail is then large (about a half or more), so the subtraction
      is exact enough;
    - n > lambda: sum_{k=n}^{n+M} pmf(k) directly, M = 50 + ceil(15 sqrt(lambda)). Past n the terms fall by
      lambda / (k + 1) < 1 each step, so M covers at least 15 standard deviations: the truncation is far below
      double precision. A tiny tail stays positive (e.g. n = 60, lambda = 0.5: 6.4e-101) down to ~1e-300,
      where 1 - sum would give 0.0.
    pmf(k) = exp(k ln lambda - lambda - lgamma(k + 1)). -#}
{% macro poisson_upper_tail(n, lam) -%}
    case
        when {{ lam }} is null then null
        when {{ n }} <= 0 then 1.0
        when {{ lam }} <= 0 then 0.0
        when {{ n }} <= {{ lam }} then greatest(0.0, 1.0 - list_sum(list_transform(
            range(0, ({{ n }})::bigint),
            lambda k: exp(k * ln({{ lam }}) - {{ lam }} - lgamma(k + 1))
        )))
        else least(1.0, list_sum(list_transform(
            range(({{ n }})::bigint, ({{ n }})::bigint + 51 + ceil(15 * sqrt({{ lam }}))::bigint),
            lambda k: exp(k * ln({{ lam }}) - {{ lam }} - lgamma(k + 1))
        )))
    end
{%- endmacro %}

{#- The area of a partner row at every level (from int_partner__area_levels aliased as `alias`), typed for
    the marts' contracts: one list so every tension mart names and orders them the same way. -#}
{% macro partner_area_columns(alias) -%}
    {{ alias }}.area_level::varchar as area_level,
    {{ alias }}.area_name::varchar as area_name,
    {{ alias }}.lsoa21_code::varchar as lsoa21_code,
    {{ alias }}.lsoa21_name::varchar as lsoa21_name,
    {{ alias }}.ward_code::varchar as ward_code,
    {{ alias }}.ward_name::varchar as ward_name,
    {{ alias }}.la_code::varchar as la_code,
    {{ alias }}.la_name::varchar as la_name,
    {{ alias }}.police_force_code::varchar as police_force_code,
    {{ alias }}.police_force_name::varchar as police_force_name
{%- endmacro %}

{#- The partner file a staging row came from (raw.partner_files aliased as `file_alias`). -#}
{% macro partner_file_columns(row_alias, file_alias='f') -%}
    {{ row_alias }}.file_id,
    {{ row_alias }}.sheet,
    {{ row_alias }}.row_number,
    {{ file_alias }}.partner,
    {{ file_alias }}.period,
    {{ file_alias }}.period_start as file_period_start,
    {{ file_alias }}.period_end as file_period_end,
    {{ file_alias }}.received_at
{%- endmacro %}

{#- One row per key across current files: the row from the latest period (period_end, then period_start),
    then the latest received file; file and row break exact ties so the choice is deterministic. -#}
{% macro latest_partner_row(partition_by, row_alias, file_alias='f') -%}
qualify row_number() over (
    partition by {{ partition_by }}
    order by {{ file_alias }}.period_end desc, {{ file_alias }}.period_start desc, {{ file_alias }}.received_at desc,
             {{ row_alias }}.file_id desc, {{ row_alias }}.row_number desc
) = 1
{%- endmacro %}
