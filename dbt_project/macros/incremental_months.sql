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

{#-
  The models after the monthly ones are incremental by calendar QUARTER (append, after a pre-hook that deletes
  the quarters rebuilt). What a month changes is bounded: the counts of its own quarter, and through the
  previous-four-quarters baseline and the year-earlier comparison the four quarters after it; a model says how
  many quarters after (and before, for the inputs its windows read) it needs. Every figure these models publish
  for a quarter is computed from that quarter and the four before it, and a quarter is always recomputed whole
  (its Benjamini-Hochberg families are per quarter), so a quarter rebuilt alone equals the full build's. An
  empty raw.build_police_months means every month: the pre-hook empties the model and it is rebuilt whole.

  police_quarters(before, after): the quarter_start dates of the quarters containing the months rebuilt, and
  of the `before` quarters preceding and `after` quarters following each.
-#}
{% macro police_quarters(before=0, after=0) -%}
    (select distinct (date_trunc('quarter', strptime(month, '%Y-%m')) + to_months(3 * k))::date as quarter_start
     from raw.build_police_months cross join range({{ -before }}, {{ after + 1 }}) as quarters_around(k))
{%- endmacro %}

{#- true for the rows of the quarters to rebuild (every row in a full build or when every month is rebuilt) -#}
{% macro police_quarters_filter(column, before=0, after=0) -%}
    {%- if is_incremental() -%}
        ({{ column }} in {{ police_quarters(before, after) }}
         or not exists (select 1 from raw.build_police_months))
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- true only when the whole model is rebuilt: for the parts of a model no police.uk month changes -#}
{% macro police_rebuild_all() -%}
    {%- if is_incremental() -%}
        (not exists (select 1 from raw.build_police_months))
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- the rows of a model that police.uk months change, in the models that also hold other indicators: the
    crime and ASB indicators (seed crime_groups), which come from police.uk alone -#}
{% macro police_indicator_rows(column='indicator_id') -%}
    {{ column }} in (select indicator_id from {{ ref('crime_groups') }})
{%- endmacro %}

{#- police_quarters_filter for a model that also holds other indicators: true for the police.uk indicators' rows
    of the quarters to rebuild (every row in a full build or when every month is rebuilt) -#}
{% macro police_indicator_quarters_filter(column, before=0, after=0, quarters=none) -%}
    {%- if is_incremental() -%}
        ({{ police_rebuild_all() }}
         or ({{ police_indicator_rows() }} and {{ column }} in {{ quarters or police_quarters(before, after) }}))
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- fct_indicator_change's quarters to rebuild: a month's quarter and the four after it (the year-earlier
    comparison and the force-adjusted test's baseline), and every period whose previous period (its
    previous_period comparison) is, or skips over, a month's quarter: an area whose quarters have a gap (a
    quarter without every LSOA's force loaded has no figure) compares with its last period before the gap,
    however long ago. Read from fct_indicator_value as rebuilt. -#}
{% macro police_change_quarters() -%}
    (select quarter_start from {{ police_quarters(0, 4) }}
     union
     select v.period_start
     from (select period_start,
                  lag(period_start) over (partition by indicator_id, geography_level, area_code
                                          order by period_start) as previous_start
           from {{ ref('fct_indicator_value') }}
           where {{ police_indicator_rows() }}) as v
     inner join {{ police_quarters(0, 0) }} as q
         on v.previous_start <= q.quarter_start and q.quarter_start < v.period_start)
{%- endmacro %}

{#- pre-hook: delete the quarters to rebuild (in a model that also holds other indicators, only the police.uk
    indicators' rows: police_indicators=true), or everything when every month is rebuilt -#}
{% macro police_quarters_reset(column, after=0, police_indicators=false, quarters=none) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where not exists (select 1 from raw.build_police_months)
            or ({% if police_indicators %}{{ police_indicator_rows() }} and {% endif -%}
                {{ column }} in {{ quarters or police_quarters(0, after) }})
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{#-
  The data tests of the three models rebuilt by month check only the months rebuilt (dbt's get_where_subquery,
  which wraps the tested model of every generic test, overridden for duckdb). Sound for every generic test on
  them (tests/test_build_plan.py lists them): each is row by row (not_null, accepted_values, expression_is_true,
  relationships: only the child side is filtered, the rows referred to are looked up in the whole table) or a
  uniqueness keyed by month (record_key starts with the month; (crime_id, month); (geography, area, month, crime
  type); (force, month)), so a failure can only involve a row of a month rebuilt, and the other months are the
  rows the last build tested, untouched since. An empty raw.build_police_months (every full build, a hand-run
  `dbt test`) tests every row, as does any other model. The singular test assert_crime_rollups_equal_sum_of_lsoas
  scopes itself the same way (police_months_tested).
-#}
{% macro police_months_tested(column) -%}
    (strftime({{ column }}, '%Y-%m') in (select month from raw.build_police_months)
     or not exists (select 1 from raw.build_police_months))
{%- endmacro %}

{% macro duckdb__get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set by_month = relation.identifier in ('stg_police_uk__street_crimes', 'fct_crime_monthly',
                                               'fct_crime_monthly_coverage') -%}
    {%- if by_month -%}
        {%- set where = police_months_tested('month') ~ ((' and (' ~ where ~ ')') if where else '') -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
