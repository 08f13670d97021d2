{#-
  Sub-annual count-based indicators (police.uk crime and ASB, per quarter) pooled into 12-month windows,
  one window ending at each period end, at every geography level. Numerators (crimes) and denominators
  (person-years) are SUMMED over the window; a window is complete only when its periods cover every day
  of the 12 months. The cohesion index, the annual cohesion profile and the community profile all read
  their 12-month figures from here.

  Incremental by quarter (macros/incremental_months.sql): a police.uk month changes its quarter's figures, so
  the windows ending in that quarter and the three after it are rebuilt (from those quarters and the three
  before each) and every other window is kept.
-#}
{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='fail',
          pre_hook="{{ police_quarters_reset(\"date_trunc('quarter', window_end)::date\", after=3, police_indicators=true) }}") }}
-- depends_on: {{ ref('crime_groups') }}  (the police.uk indicators, macros/incremental_months.sql)

with periods as (
    select indicator_id, geography_level, area_code, area_name, period_start, period_end, numerator, denominator, unit
    from {{ ref('fct_indicator_value') }}
    where numerator is not null
      -- shorter than a year and longer than a day: the quarters (census day and WIMD release are points)
      and period_end > period_start and period_end < period_start + interval 1 year - interval 5 day
      and {{ police_indicator_quarters_filter("date_trunc('quarter', period_start)::date", before=3, after=3) }}
),

window_ends as (
    select distinct indicator_id, geography_level, area_code, period_end as window_end,
           (period_end - interval 1 year + interval 1 day)::date as window_start
    from periods
    where {{ police_quarters_filter("date_trunc('quarter', period_end)::date", after=3) }}
),

pooled as (
    select
        w.indicator_id, w.geography_level, w.area_code, any_value(p.area_name) as area_name,
        w.window_start, w.window_end, any_value(p.unit) as unit,
        {{ exact_sum('p.numerator') }} as numerator, {{ exact_sum('p.denominator') }} as denominator,
        sum(datediff('day', p.period_start, p.period_end) + 1) as days_covered
    from window_ends as w
    inner join periods as p
        on p.indicator_id = w.indicator_id and p.geography_level = w.geography_level and p.area_code = w.area_code
        and p.period_start >= w.window_start and p.period_end <= w.window_end
    group by w.indicator_id, w.geography_level, w.area_code, w.window_start, w.window_end
)

select
    indicator_id, geography_level, area_code, area_name, window_start, window_end,
    '12 months to ' || strftime(window_end, '%Y-%m-%d') as window_label,
    numerator, denominator,
    {{ unit_scale('unit') }}
        * numerator / denominator as value,
    1000.0 * {{ poisson_lower('numerator') }} / denominator as lci_95,
    1000.0 * {{ poisson_upper('numerator') }} / denominator as uci_95,
    days_covered = datediff('day', window_start, window_end) + 1 as is_complete
from pooled
