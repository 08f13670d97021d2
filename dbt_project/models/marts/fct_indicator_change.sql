{#-
  Change over time for every indicator value (guide, Part 2, Step 4: track every indicator; RAPID change,
  not gradual change, is the risk signal). One row per fct_indicator_value row × comparison:
    previous_period  the same indicator / level / area's period immediately before, in period_start order;
    year_earlier     the period starting exactly one year earlier with the same length (a quarter against
                     the same quarter a year before, so seasonality cancels). Skipped when absent.

  Each period's standard error comes from its own ci_method, and the two are combined as independent
  estimates, z = change / sqrt(se1^2 + se2^2):
    wilson     proportion k/n: se = 100 * sqrt(p(1-p)/n)  — the UNPOOLED two-proportion z-test;
    byar       rate per 1,000 person-years: se = 1000 * sqrt(k)/person-years (Poisson), so
               se_change = 1000 * sqrt(k1/d1^2 + k2/d2^2);
    published  se = (uci - lci) / (2 * 1.96), the source's 95% interval read back as a normal SE;
    none       no SE: not testable.
  When both SEs are 0 (0 of n in both periods, or no crimes in either) the change is 0 and there is no
  evidence of change: z = 0, p = 1.

  p is two-sided from the normal approximation, p = erfc(|z| / sqrt(2)). DuckDB has no erf/erfc, so the
  CTE p_values evaluates the Chebyshev fit of Numerical Recipes' erfcc (Press et al., section 6.2):
  relative error below 1.2e-7 everywhere, so tail p-values keep their precision too. Significant means
  p < 0.05 (no multiple-testing adjustment here; the quarterly exception report applies the exact
  conditional Poisson test with Benjamini-Hochberg to crime counts).

  change_threshold is the catalogue's, in the indicator's unit (percentage points for percentages; crime
  rates here are per 1,000 person-years, i.e. already annualised, so the per-year threshold applies to a
  quarter without dividing by 4).
-#}
with indicator_value as (
    select * from {{ ref('fct_indicator_value') }}
),

catalogue as (
    select indicator_id, change_threshold::double as change_threshold from {{ ref('indicator_catalogue') }}
),

with_se as (
    select
        *,
        case ci_method
            when 'wilson' then
                case when denominator > 0
                     then 100.0 * sqrt(greatest(numerator / denominator * (1 - numerator / denominator), 0) / denominator)
                end
            when 'byar' then
                case when denominator > 0 then 1000.0 * sqrt(numerator) / denominator end
            when 'published' then
                case when uci_95 >= lci_95 then (uci_95 - lci_95) / (2 * 1.96) end
        end as se
    from indicator_value
),

sequenced as (
    select
        *,
        lag(period_start) over area_series as previous_period_start
    from with_se
    window area_series as (partition by indicator_id, geography_level, area_code order by period_start)
),

pairs as (
    select cur.*, 'previous_period' as comparison, cur.previous_period_start as compared_start
    from sequenced as cur
    where cur.previous_period_start is not null
    union all
    select cur.*, 'year_earlier', earlier.period_start
    from sequenced as cur
    inner join with_se as earlier
        on cur.indicator_id = earlier.indicator_id
        and cur.geography_level = earlier.geography_level
        and cur.area_code = earlier.area_code
        and earlier.period_start = (cur.period_start - interval 1 year)::date
        -- same length: a quarter against a quarter, a point estimate against a point estimate
        and age(earlier.period_end + interval 1 day, earlier.period_start)
            = age(cur.period_end + interval 1 day, cur.period_start)
),

compared as (
    select
        p.indicator_id, p.cohesion_factor, p.geography_level, p.area_code, p.area_name, p.comparison,
        p.period_label, p.period_start, c.period_label as compared_period_label,
        c.period_start as compared_period_start, p.value, c.value as compared_value,
        p.value - c.value as change,
        sqrt(p.se ^ 2 + c.se ^ 2) as se_change,
        case when p.ci_method = c.ci_method then p.ci_method else 'mixed' end as pair_method,
        -- Mid-year estimates and a census are different series: a step between them is a change of
        -- source, not of the area, so it is shown but never counted as rapid change.
        {{ source_series('p.source_release') }} <> {{ source_series('c.source_release') }} as is_series_break,
        p.unit, p.polarity
    from pairs as p
    inner join with_se as c
        on p.indicator_id = c.indicator_id
        and p.geography_level = c.geography_level
        and p.area_code = c.area_code
        and p.compared_start = c.period_start
),

z_scores as (
    select
        *,
        case when se_change > 0 then change / se_change
             when se_change = 0 and change = 0 then 0.0 end as z
    from compared
),

-- erfc(x) for x = |z| / sqrt(2) >= 0: t = 1 / (1 + x/2),
-- erfc(x) = t * exp(-x^2 - 1.26551223 + t*(1.00002368 + t*(0.37409196 + t*(0.09678418 + t*(-0.18628806
--           + t*(0.27886807 + t*(-1.13520398 + t*(1.48851587 + t*(-0.82215223 + t*0.17087277)))))))))
erfc_input as (
    select *, abs(z) / sqrt(2.0) as x, 1.0 / (1.0 + 0.5 * abs(z) / sqrt(2.0)) as t
    from z_scores
),

p_values as (
    select
        * exclude (x, t),
        -- least() skips nulls in DuckDB, so keep the not-testable rows null explicitly
        case when z is not null then least(1.0, t * exp(
            -x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
            + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
        )) end as p_value
    from erfc_input
),

flagged as (
    select
        p.*,
        cat.change_threshold,
        p.p_value < 0.05 as is_significant,
        abs(p.change) >= cat.change_threshold as is_beyond_threshold
    from p_values as p
    left join catalogue as cat on p.indicator_id = cat.indicator_id
)

select
    indicator_id::varchar as indicator_id,
    cohesion_factor::varchar as cohesion_factor,
    geography_level::varchar as geography_level,
    area_code::varchar as area_code,
    area_name::varchar as area_name,
    comparison::varchar as comparison,
    period_label::varchar as period_label,
    period_start::date as period_start,
    compared_period_label::varchar as compared_period_label,
    compared_period_start::date as compared_period_start,
    unit::varchar as unit,
    polarity::varchar as polarity,
    value::double as value,
    compared_value::double as compared_value,
    change::double as change,
    (change - 1.959963984540054 * se_change)::double as change_lci_95,
    (change + 1.959963984540054 * se_change)::double as change_uci_95,
    case when z is null then 'not testable'
         when pair_method = 'wilson' then 'two-proportion z (unpooled)'
         when pair_method = 'byar' then 'poisson rate difference z'
         when pair_method = 'published' then 'published ci z'
         else 'mixed se z' end::varchar as test_method,
    z::double as z,
    p_value::double as p_value,
    is_significant::boolean as is_significant,
    change_threshold::double as change_threshold,
    is_beyond_threshold::boolean as is_beyond_threshold,
    is_series_break::boolean as is_series_break,
    coalesce(is_significant and is_beyond_threshold and not is_series_break, false)::boolean as is_rapid_change,
    case
        when is_series_break then 'series break'
        when z is null then 'not testable'
        when not is_significant or change = 0 then 'no significant change'
        when polarity = 'risk' then case when change > 0 then 'worsening' else 'improving' end
        when polarity = 'protective' then case when change > 0 then 'improving' else 'worsening' end
        else case when change > 0 then 'significant increase' else 'significant decrease' end
    end::varchar as direction
from flagged
