{#- Shared rules of the tension marts (guide, Part 3). -#}

{#- The date the marts are "as of": var as_of_date, else the environment variable COHESION_AS_OF_DATE (set by
    orchestration.settings from the settings: the demo's day, a configured one, or blank), else today. Overdue
    CIAs, CIA ages and overdue risk reviews are measured against it. -#}
{% macro tension_as_of() -%}
    {%- set v = var('as_of_date', env_var('COHESION_AS_OF_DATE', '')) -%}
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

{#- Poisson upper tail P(X >= n | lambda): the exception engine's exact cm_poisson_upper_p
    (orchestration/lib/stats.py, registered on every dbt connection; docs block exception_method). 1 when
    n <= 0; 0 when lambda <= 0 (and n > 0); null when lambda is null. Tiny tails keep their precision. -#}
{% macro poisson_upper_tail(n, lam) -%}
    cm_poisson_upper_p({{ n }}, {{ lam }})
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
