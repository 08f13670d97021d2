{#-
  Rebuild only the police.uk months a build loaded.

  The crime models that grow with history (stg_police_uk__street_crimes, fct_crime_monthly,
  fct_crime_monthly_coverage) are incremental by month (delete+insert). A full build runs dbt with
  --full-refresh and rebuilds them whole. When `make run` finds that only some police.uk months changed
  (lib/build_plan.py), the Dagster dbt asset writes those months ('YYYY-MM') into
  raw.build_police_months, runs dbt without --full-refresh and empties the table once built: these models
  read only those months and
  replace exactly them. An empty table means every month: the pre-hook police_months_reset empties the
  model first, so a hand-run `dbt build` without --full-refresh gives what a full build gives (months no
  longer in the raw table included). Every rule in these models is within one month, so a month
  rebuilt alone gives the same rows as a full build.
-#}
{% macro police_months_filter(column, is_date=false) -%}
    {%- if is_incremental() -%}
        ({% if is_date %}strftime({{ column }}, '%Y-%m'){% else %}{{ column }}{% endif %}
            in (select month from raw.build_police_months)
         or not exists (select 1 from raw.build_police_months))
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{% macro police_months_reset() -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where not exists (select 1 from raw.build_police_months)
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{% macro create_build_police_months() -%}
    create schema if not exists raw;
    create table if not exists raw.build_police_months (month varchar)
{%- endmacro %}
