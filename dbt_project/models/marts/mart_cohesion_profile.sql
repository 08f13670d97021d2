{#-
  The annual cohesion profile per local authority (guide, Part 2, Step 4): "The first report would act as
  a benchmark. Future reports would update and add to the profile, highlighting any significant change",
  compared with Wales, showing urban vs rural and area-by-area differences, each factor reported
  separately. One row per LA × indicator with LA values in fct_indicator_value.

  Periods. Benchmark = the LA's earliest period, latest = its latest period. Sub-annual indicators
  (police.uk quarters) are read as 12-month windows, so that the annual profile compares years and
  seasonality cancels: benchmark = the first 12 months of the LA's series, latest = the 12 months to its
  latest quarter end, each pooled by SUMMING numerators (crimes) and denominators (person-years), with
  Byar's interval on the pooled count. A window must be covered day for day, and change since the
  benchmark needs two windows that do not overlap (24 months of quarters).

  Comparison with Wales as Fingertips makes it: the LA's 95% interval against the Wales value for the same
  period — 'higher' if lci > Wales, 'lower' if uci < Wales, else 'similar'; 'not compared' when the LA
  figure has no interval or Wales has no value for the period. The assessment reads it through polarity
  (risk: higher = worse; protective: higher = better; context: stays higher / lower, as in
  fct_indicator_benchmark).

  Urban vs rural: for indicators with LSOA numerators and denominators, the LA's urban LSOAs pooled vs its
  rural LSOAs pooled (ONS 2021 rural-urban classification, dim_geography.urban_rural) in the LA's latest
  period (window), only when every LSOA of the class has data.

  lsoas_most_changed: for indicators with at least two LSOA periods (two non-overlapping windows), the up to
  3 LSOAs of the LA with the largest absolute change between the first and the latest LSOA period (window).

  Computed here from fct_indicator_value rather than fct_indicator_change, which compares single periods
  (previous period, same quarter a year earlier), not pooled 12-month windows or earliest vs latest.
-#}
with catalogue as (
    select indicator_id, label, unit, polarity, cohesion_factor, min_reliable_level, caveats
    from {{ ref('indicator_catalogue') }}
),

indicator_value as (
    select
        *,
        (period_end > period_start and period_end < period_start + interval 1 year - interval 5 day) as is_sub_annual,
        datediff('day', period_start, period_end) + 1 as period_days
    from {{ ref('fct_indicator_value') }}
    where value is not null
),

-- sub-annual series with counts are read as 12-month windows; everything else period by period
indicator_kind as (
    select indicator_id,
           bool_or(is_sub_annual) and bool_and(numerator is not null and denominator is not null) as is_pooled,
           case any_value(unit) when 'per_1000' then 1000.0 when 'per_million' then 1000000.0 else 100.0 end
               as scale
    from indicator_value
    group by indicator_id
),

la_series as (
    select
        v.indicator_id, v.area_code as la_code, any_value(v.area_name) as la_name, k.is_pooled,
        count(*) as la_periods,
        min(v.period_start) as first_start,
        max(v.period_end) as last_end,
        arg_min(v.period_start, v.period_start) as bench_point_start,
        arg_min(v.period_end, v.period_start) as bench_point_end,
        arg_min(v.period_label, v.period_start) as bench_point_label,
        arg_max(v.period_start, v.period_end) as latest_point_start,
        arg_max(v.period_end, v.period_end) as latest_point_end,
        arg_max(v.period_label, v.period_end) as latest_point_label
    from indicator_value as v
    inner join indicator_kind as k on v.indicator_id = k.indicator_id
    where v.geography_level = 'la'
    group by v.indicator_id, v.area_code, k.is_pooled
),

la_windows as (
    select
        indicator_id, la_code, la_name, is_pooled, la_periods,
        case when is_pooled then first_start else bench_point_start end as bench_start,
        case when is_pooled then (first_start + interval 1 year - interval 1 day)::date else bench_point_end end as bench_end,
        case when is_pooled then (last_end - interval 1 year + interval 1 day)::date else latest_point_start end as latest_start,
        case when is_pooled then last_end else latest_point_end end as latest_end,
        bench_point_label, latest_point_label
    from la_series
),

la_windows_labelled as (
    select
        *,
        case when is_pooled then '12 months to ' || strftime(bench_end, '%Y-%m-%d') else bench_point_label end as bench_label,
        case when is_pooled then '12 months to ' || strftime(latest_end, '%Y-%m-%d') else latest_point_label end as latest_label
    from la_windows
),

-- every figure the profile needs: (LA or Wales) × window
requests as (
    select la_code, indicator_id, 'benchmark' as role, 'la' as geography_level, la_code as area_code,
           bench_start as window_start, bench_end as window_end, is_pooled
    from la_windows_labelled
    union all
    select la_code, indicator_id, 'latest', 'la', la_code, latest_start, latest_end, is_pooled
    from la_windows_labelled
    union all
    select la_code, indicator_id, 'wales_latest', 'wales', 'W92000004', latest_start, latest_end, is_pooled
    from la_windows_labelled
),

request_rows as (
    select q.la_code, q.indicator_id, q.role, q.is_pooled, q.window_start, q.window_end,
           v.numerator, v.denominator, v.value, v.lci_95, v.uci_95, v.ci_method, v.period_days
    from requests as q
    inner join indicator_value as v
        on q.indicator_id = v.indicator_id
        and q.geography_level = v.geography_level
        and q.area_code = v.area_code
        and (
            (q.is_pooled and v.period_start >= q.window_start and v.period_end <= q.window_end)
            or (not q.is_pooled and v.period_start = q.window_start and v.period_end = q.window_end)
        )
),

request_sums as (
    select
        r.la_code, r.indicator_id, r.role, r.is_pooled,
        sum(r.numerator) as numerator, sum(r.denominator) as denominator,
        any_value(r.value) as point_value, any_value(r.lci_95) as point_lci, any_value(r.uci_95) as point_uci,
        any_value(r.ci_method) as ci_method,
        sum(r.period_days) = datediff('day', any_value(r.window_start), any_value(r.window_end)) + 1 as is_covered,
        any_value(k.scale) as scale
    from request_rows as r
    inner join indicator_kind as k on r.indicator_id = k.indicator_id
    group by r.la_code, r.indicator_id, r.role, r.is_pooled
),

figures as (
    select
        la_code, indicator_id, role,
        case when not is_pooled then point_value
             when is_covered and denominator > 0 then scale * numerator / denominator end as value,
        case when not is_pooled then point_lci
             when is_covered and denominator > 0 and ci_method = 'byar' then scale * {{ byar_lower('numerator') }} / denominator
             when is_covered and denominator > 0 and ci_method = 'wilson' then scale * {{ wilson_lower('numerator', 'denominator') }}
        end as lci_95,
        case when not is_pooled then point_uci
             when is_covered and denominator > 0 and ci_method = 'byar' then scale * {{ byar_upper('numerator') }} / denominator
             when is_covered and denominator > 0 and ci_method = 'wilson' then scale * {{ wilson_upper('numerator', 'denominator') }}
        end as uci_95
    from request_sums
),

-- urban vs rural: the LA's LSOAs of each class pooled, in the LA's latest period (window)
geography as (
    select lsoa21_code, la_code, urban_rural from {{ ref('dim_geography') }}
),

class_size as (
    select la_code, urban_rural, count(*) as lsoas_in_class from geography group by 1, 2
),

lsoa_rows as (
    select v.*, g.la_code, g.urban_rural
    from indicator_value as v
    inner join geography as g on v.area_code = g.lsoa21_code
    where v.geography_level = 'lsoa' and v.numerator is not null and v.denominator is not null
),

urban_rural_pooled as (
    select
        w.la_code, w.indicator_id, l.urban_rural,
        any_value(k.scale) * sum(l.numerator) / nullif(sum(l.denominator), 0) as value,
        count(distinct l.area_code) as lsoas_with_data,
        sum(l.period_days) as days_covered,
        datediff('day', any_value(w.latest_start), any_value(w.latest_end)) + 1 as days_in_window
    from la_windows_labelled as w
    inner join lsoa_rows as l
        on w.indicator_id = l.indicator_id
        and w.la_code = l.la_code
        and (
            (w.is_pooled and l.period_start >= w.latest_start and l.period_end <= w.latest_end)
            or (not w.is_pooled and l.period_start = w.latest_start and l.period_end = w.latest_end)
        )
    inner join indicator_kind as k on w.indicator_id = k.indicator_id
    group by w.la_code, w.indicator_id, l.urban_rural
),

urban_rural as (
    select
        p.la_code, p.indicator_id,
        max(p.value) filter (where p.urban_rural = 'Urban') as urban_value,
        max(p.value) filter (where p.urban_rural = 'Rural') as rural_value
    from urban_rural_pooled as p
    inner join class_size as c on p.la_code = c.la_code and p.urban_rural = c.urban_rural
    where p.lsoas_with_data = c.lsoas_in_class and p.days_covered = p.days_in_window * c.lsoas_in_class
    group by p.la_code, p.indicator_id
),

-- area-by-area change: first vs latest LSOA period (12-month windows for pooled indicators)
lsoa_series as (
    select
        l.indicator_id, k.is_pooled,
        count(distinct l.period_start) as lsoa_periods,
        min(l.period_start) as first_start,
        max(l.period_end) as last_end,
        arg_min(l.period_end, l.period_start) as first_point_end,
        arg_max(l.period_start, l.period_end) as last_point_start
    from lsoa_rows as l
    inner join indicator_kind as k on l.indicator_id = k.indicator_id
    group by l.indicator_id, k.is_pooled
),

lsoa_series_windows as (
    select
        indicator_id, is_pooled,
        first_start as first_window_start,
        case when is_pooled then (first_start + interval 1 year - interval 1 day)::date else first_point_end end as first_window_end,
        case when is_pooled then (last_end - interval 1 year + interval 1 day)::date else last_point_start end as last_window_start,
        last_end as last_window_end
    from lsoa_series
    -- two distinct periods; for 12-month windows, two windows that do not overlap (24 months of data)
    where lsoa_periods >= 2 and (not is_pooled or last_end >= (first_start + interval 2 year - interval 1 day)::date)
),

lsoa_window_values as (
    select
        l.la_code, l.area_code as lsoa21_code, l.indicator_id, s.role,
        any_value(k.scale) * sum(l.numerator) / nullif(sum(l.denominator), 0) as value,
        sum(l.period_days) = datediff('day', any_value(s.window_start), any_value(s.window_end)) + 1 as is_covered
    from (
        select indicator_id, is_pooled, 'first' as role, first_window_start as window_start, first_window_end as window_end
        from lsoa_series_windows
        union all
        select indicator_id, is_pooled, 'last', last_window_start, last_window_end from lsoa_series_windows
    ) as s
    inner join lsoa_rows as l
        on s.indicator_id = l.indicator_id
        and l.period_start >= s.window_start and l.period_end <= s.window_end
        and (s.is_pooled or (l.period_start = s.window_start and l.period_end = s.window_end))
    inner join indicator_kind as k on s.indicator_id = k.indicator_id
    group by l.la_code, l.area_code, l.indicator_id, s.role
),

lsoa_change as (
    select
        la_code, lsoa21_code, indicator_id,
        max(value) filter (where role = 'last') - max(value) filter (where role = 'first') as change
    from lsoa_window_values
    where is_covered
    group by la_code, lsoa21_code, indicator_id
    having count(*) filter (where role = 'first') = 1 and count(*) filter (where role = 'last') = 1
),

most_changed as (
    select la_code, indicator_id,
           string_agg(lsoa21_code, ';' order by abs(change) desc, lsoa21_code) as lsoas_most_changed
    from (
        select *, row_number() over (partition by la_code, indicator_id order by abs(change) desc, lsoa21_code) as rn
        from lsoa_change
        where change is not null
    )
    where rn <= 3
    group by la_code, indicator_id
),

assembled as (
    select
        w.la_code, w.la_name, c.cohesion_factor, w.indicator_id, c.label, c.unit, c.polarity,
        w.la_periods,
        w.bench_label as benchmark_period_label,
        b.value as benchmark_value,
        w.latest_label as latest_period_label,
        l.value as latest_value,
        l.lci_95 as latest_lci_95,
        l.uci_95 as latest_uci_95,
        case when w.bench_label <> w.latest_label and (not w.is_pooled or w.latest_start > w.bench_end)
             then l.value - b.value end as change_since_benchmark,
        wl.value as wales_latest_value,
        l.value - wl.value as difference_from_wales,
        case when l.value is null then 'not compared'
             else {{ fingertips_comparison('l.lci_95', 'l.uci_95', 'wl.value') }} end as comparison_with_wales,
        ur.urban_value, ur.rural_value,
        mc.lsoas_most_changed,
        c.min_reliable_level, c.caveats
    from la_windows_labelled as w
    inner join catalogue as c on w.indicator_id = c.indicator_id
    left join figures as b on w.la_code = b.la_code and w.indicator_id = b.indicator_id and b.role = 'benchmark'
    left join figures as l on w.la_code = l.la_code and w.indicator_id = l.indicator_id and l.role = 'latest'
    left join figures as wl on w.la_code = wl.la_code and w.indicator_id = wl.indicator_id and wl.role = 'wales_latest'
    left join urban_rural as ur on w.la_code = ur.la_code and w.indicator_id = ur.indicator_id
    left join most_changed as mc on w.la_code = mc.la_code and w.indicator_id = mc.indicator_id
)

select
    la_code::varchar as la_code,
    la_name::varchar as la_name,
    cohesion_factor::varchar as cohesion_factor,
    indicator_id::varchar as indicator_id,
    label::varchar as label,
    unit::varchar as unit,
    polarity::varchar as polarity,
    la_periods::integer as la_periods,
    benchmark_period_label::varchar as benchmark_period_label,
    benchmark_value::double as benchmark_value,
    latest_period_label::varchar as latest_period_label,
    latest_value::double as latest_value,
    latest_lci_95::double as latest_lci_95,
    latest_uci_95::double as latest_uci_95,
    change_since_benchmark::double as change_since_benchmark,
    wales_latest_value::double as wales_latest_value,
    difference_from_wales::double as difference_from_wales,
    comparison_with_wales::varchar as comparison_with_wales,
    ({{ polarity_assessment('comparison_with_wales', 'polarity') }})::varchar as assessment_vs_wales,
    urban_value::double as urban_value,
    rural_value::double as rural_value,
    lsoas_most_changed::varchar as lsoas_most_changed,
    min_reliable_level::varchar as min_reliable_level,
    caveats::varchar as caveats
from assembled
