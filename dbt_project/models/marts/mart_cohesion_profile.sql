{#-
  The annual cohesion profile per local authority (guide, Part 2, Step 4): "The first report would act as
  a benchmark. Future reports would update and add to the profile, highlighting any significant change",
  compared with Wales, showing urban vs rural and area-by-area differences, each factor reported
  separately. One row per LA × indicator with LA values in fct_indicator_value.

  Periods and series. Latest = the LA's latest period; benchmark = the LA's earliest period IN THE SAME
  SERIES (fct_indicator_value.series_key) as the latest: change is never computed across a series break
  (mid-year estimates → Census 2021, the Claimant Count's 2015 definition change, WIMD 2019 → 2025; seed
  indicator_series_breaks). When the latest period starts a new series, the latest period is its own
  benchmark, change is withheld and change_note says why (the series_break_reason); the last figure of the
  series before stays visible as previous_series_label / previous_series_value, without a change.
  Sub-annual indicators (police.uk quarters) are read as 12-month windows, so that the annual profile
  compares years and seasonality cancels: benchmark = the first 12 months of the LA's series, latest = the
  12 months to its latest quarter end, each pooled by SUMMING numerators (crimes) and denominators
  (person-years), with the exact Poisson interval on the pooled count. A window must be covered day for day,
  and change since the benchmark needs two windows that do not overlap (24 months of quarters). Change is
  also withheld when the benchmark or the latest figure is flagged unreliable by its source.

  Comparison with Wales: macro benchmark_comparison (macros/benchmark_rules.sql), the same rule as
  fct_indicator_benchmark — the LA's 95% interval against the Wales value for the same period AND a
  materiality rule: 'higher' / 'lower' only when the interval excludes Wales and the difference is at least
  the catalogue's change_threshold, else 'similar'; 'not compared' when the LA figure is unreliable, has no
  interval, or Wales has no value for the period. Census proportions carry Wilson intervals under the
  "natural variation" convention (PHE / ONS), not sampling error. The assessment reads it through polarity
  (risk: higher = worse; protective: higher = better; context: stays higher / lower).

  Urban vs rural: for indicators with LSOA numerators and denominators, the LA's urban LSOAs pooled vs its
  rural LSOAs pooled (ONS 2021 rural-urban classification, dim_geography.urban_rural) in the LA's latest
  period (window), only when every LSOA of the class has data.

  Is the change real? change_since_benchmark is tested by the exception engine with the rules of
  fct_indicator_change (macros/exception_engine.sql: change_test_method, change_p_value, change_se,
  is_rapid_change; method: docs block exception_method): exact conditional Poisson test on the two windows'
  pooled counts and person-years, pooled two-proportion z for census shares, z from published intervals; no test
  below 10 events (10 in a cell), on an unreliable or estimated figure, or without an interval (change_test_method
  says why); Benjamini-Hochberg within indicator × LA level × since-benchmark × (benchmark, latest) period.
  change_verdict: 'significant rise' / 'significant fall' = significant after FDR AND |change| >= the catalogue's
  change_threshold (benchmark and latest are in one series by construction, both reliable); else 'significant
  but below threshold', 'no significant change', 'not tested'; 'series break' / 'not compared' when no change is
  shown. fct_indicator_change itself compares consecutive single periods (previous period, same quarter a year
  earlier), not pooled 12-month windows or the benchmark against the latest, so its rows cannot be reused; the
  rules are the same macros.

  lsoas_most_changed: for indicators with at least two LSOA periods (two non-overlapping windows) IN THE
  LATEST LSOA SERIES, each LSOA's change between the first and the latest LSOA period (window) of that series is
  tested the same way (family: indicator × LSOA level × since-benchmark: every LSOA of Wales with both windows),
  and up to 3 of the LA's LSOAs with RAPID change (significant after FDR and at least the threshold) are listed,
  largest absolute change first, then the smaller q: ranking raw change would favour LSOAs with few residents,
  whose rates move most by chance. LSOAs with any 'estimated' figure (a 2011 LSOA split across the 2021 bridge:
  the figure is an apportioned share of its parent, not a measurement of the LSOA) or unreliable one are not
  tested, so never listed. lsoas_tested_for_change / lsoas_changed_significantly count the LA's LSOAs tested and
  with rapid change.
-#}
with catalogue as (
    select indicator_id, label, unit, polarity, cohesion_factor, min_reliable_level, change_threshold, caveats
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
           {{ unit_scale('any_value(unit)') }}
               as scale
    from indicator_value
    group by indicator_id
),

-- the series of the LA's latest period: benchmark and latest both come from it
la_current_series as (
    select
        indicator_id, area_code as la_code,
        arg_max(series_key, period_end) as series_key,
        arg_max(series_break_reason, period_end) as series_break_reason
    from indicator_value
    where geography_level = 'la'
    group by indicator_id, area_code
),

la_series as (
    select
        v.indicator_id, v.area_code as la_code, any_value(v.area_name) as la_name, k.is_pooled,
        any_value(s.series_key) as series_key, any_value(s.series_break_reason) as series_break_reason,
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
    inner join la_current_series as s
        on v.indicator_id = s.indicator_id and v.area_code = s.la_code and v.series_key = s.series_key
    where v.geography_level = 'la'
    group by v.indicator_id, v.area_code, k.is_pooled
),

la_period_counts as (
    select indicator_id, area_code as la_code, count(*) as la_periods
    from indicator_value where geography_level = 'la' group by 1, 2
),

-- the last LA figure of the series before the current one (shown, never differenced); period figures only
previous_series as (
    select
        v.indicator_id, v.area_code as la_code,
        arg_max(v.period_label, v.period_end) as previous_series_label,
        arg_max(v.value, v.period_end) as previous_series_value
    from indicator_value as v
    inner join la_series as s on v.indicator_id = s.indicator_id and v.area_code = s.la_code
    where v.geography_level = 'la' and v.series_key <> s.series_key and v.period_end < s.first_start
          and not s.is_pooled
    group by v.indicator_id, v.area_code
),

la_windows as (
    select
        indicator_id, la_code, la_name, is_pooled, series_key, series_break_reason,
        case when is_pooled then first_start else bench_point_start end as bench_start,
        case when is_pooled then (first_start + interval 1 year - interval 1 day)::date else bench_point_end end as bench_end,
        case when is_pooled then (last_end - interval 1 year + interval 1 day)::date else latest_point_start end as latest_start,
        case when is_pooled then last_end else latest_point_end end as latest_end,
        bench_point_label, latest_point_label
    from la_series
    -- a 12-month figure needs 12 months: an LA whose police.uk months cover less than a year (South Wales,
    -- North Wales, Dyfed-Powys: 2022-01..11 bundled) has no profile row for the pooled crime indicators
    where not is_pooled or last_end >= (first_start + interval 1 year - interval 1 day)::date
),

la_windows_labelled as (
    select
        *,
        case when is_pooled then '12 months to ' || strftime(bench_end, '%Y-%m-%d') else bench_point_label end as bench_label,
        case when is_pooled then '12 months to ' || strftime(latest_end, '%Y-%m-%d') else latest_point_label end as latest_label
    from la_windows
),

-- every figure the profile needs: (LA or Wales) × window; LA figures only from the current series
requests as (
    select la_code, indicator_id, 'benchmark' as role, 'la' as geography_level, la_code as area_code,
           bench_start as window_start, bench_end as window_end, is_pooled, series_key
    from la_windows_labelled
    union all
    select la_code, indicator_id, 'latest', 'la', la_code, latest_start, latest_end, is_pooled, series_key
    from la_windows_labelled
    union all
    select la_code, indicator_id, 'wales_latest', 'wales', 'W92000004', latest_start, latest_end, is_pooled,
           null::varchar
    from la_windows_labelled
),

request_rows as (
    select q.la_code, q.indicator_id, q.role, q.is_pooled, q.window_start, q.window_end,
           v.numerator, v.denominator, v.value, v.lci_95, v.uci_95, v.ci_method, v.period_days, v.status
    from requests as q
    inner join indicator_value as v
        on q.indicator_id = v.indicator_id
        and q.geography_level = v.geography_level
        and q.area_code = v.area_code
        and (q.series_key is null or q.series_key = v.series_key)
        and (
            (q.is_pooled and v.period_start >= q.window_start and v.period_end <= q.window_end)
            or (not q.is_pooled and v.period_start = q.window_start and v.period_end = q.window_end)
        )
),

request_sums as (
    select
        r.la_code, r.indicator_id, r.role, r.is_pooled,
        {{ exact_sum('r.numerator') }} as numerator, {{ exact_sum('r.denominator') }} as denominator,
        any_value(r.value) as point_value, any_value(r.lci_95) as point_lci, any_value(r.uci_95) as point_uci,
        any_value(r.ci_method) as ci_method,
        case when bool_or(r.status = 'unreliable') then 'unreliable' else any_value(r.status) end as status,
        sum(r.period_days) = datediff('day', any_value(r.window_start), any_value(r.window_end)) + 1 as is_covered,
        any_value(k.scale) as scale
    from request_rows as r
    inner join indicator_kind as k on r.indicator_id = k.indicator_id
    group by r.la_code, r.indicator_id, r.role, r.is_pooled
),

figures as (
    select
        la_code, indicator_id, role, status, ci_method, numerator, denominator, scale,
        case when not is_pooled then point_value
             when is_covered and denominator > 0 then scale * numerator / denominator end as value,
        case when not is_pooled then point_lci
             when is_covered and denominator > 0 and ci_method = 'poisson_exact' then scale * {{ poisson_lower('numerator') }} / denominator
             when is_covered and denominator > 0 and ci_method = 'wilson' then scale * {{ wilson_lower('numerator', 'denominator') }}
        end as lci_95,
        case when not is_pooled then point_uci
             when is_covered and denominator > 0 and ci_method = 'poisson_exact' then scale * {{ poisson_upper('numerator') }} / denominator
             when is_covered and denominator > 0 and ci_method = 'wilson' then scale * {{ wilson_upper('numerator', 'denominator') }}
        end as uci_95
    from request_sums
),

-- urban vs rural: the LA's LSOAs of each class pooled, in the LA's latest period (window)
geography as (
    select lsoa21_code, lsoa21_name, la_code, urban_rural from {{ ref('dim_geography') }}
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
        any_value(k.scale) * {{ exact_sum('l.numerator') }} / nullif({{ exact_sum('l.denominator') }}, 0) as value,
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

-- area-by-area change: first vs latest LSOA period (12-month windows for pooled indicators), within the
-- series of the latest LSOA period only
lsoa_current_series as (
    select indicator_id, arg_max(series_key, period_end) as series_key
    from lsoa_rows
    group by indicator_id
),

lsoa_series_rows as (
    select l.*
    from lsoa_rows as l
    inner join lsoa_current_series as s on l.indicator_id = s.indicator_id and l.series_key = s.series_key
),

lsoa_series as (
    select
        l.indicator_id, k.is_pooled,
        count(distinct l.period_start) as lsoa_periods,
        min(l.period_start) as first_start,
        max(l.period_end) as last_end,
        arg_min(l.period_end, l.period_start) as first_point_end,
        arg_max(l.period_start, l.period_end) as last_point_start
    from lsoa_series_rows as l
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
        {{ exact_sum('l.numerator') }} as numerator, {{ exact_sum('l.denominator') }} as denominator,
        any_value(k.scale) * {{ exact_sum('l.numerator') }} / nullif({{ exact_sum('l.denominator') }}, 0) as value,
        -- a single period's published interval (pooled windows are counts: exact or two-proportion tests)
        case when not any_value(s.is_pooled) then any_value(l.lci_95) end as lci_95,
        case when not any_value(s.is_pooled) then any_value(l.uci_95) end as uci_95,
        case when count(distinct l.ci_method) = 1 then any_value(l.ci_method) else 'mixed' end as ci_method,
        any_value(k.scale) as scale,
        sum(l.period_days) = datediff('day', any_value(s.window_start), any_value(s.window_end)) + 1 as is_covered,
        bool_or(l.status = 'estimated') as has_estimated,
        bool_or(l.status = 'unreliable') as has_unreliable
    from (
        select indicator_id, is_pooled, 'first' as role, first_window_start as window_start, first_window_end as window_end
        from lsoa_series_windows
        union all
        select indicator_id, is_pooled, 'last', last_window_start, last_window_end from lsoa_series_windows
    ) as s
    inner join lsoa_series_rows as l
        on s.indicator_id = l.indicator_id
        and l.period_start >= s.window_start and l.period_end <= s.window_end
        and (s.is_pooled or (l.period_start = s.window_start and l.period_end = s.window_end))
    inner join indicator_kind as k on s.indicator_id = k.indicator_id
    group by l.la_code, l.area_code, l.indicator_id, s.role
),

-- each LSOA's first and latest window side by side (latest = 1, first = 0)
lsoa_pairs as (
    select
        w.la_code, w.lsoa21_code, w.indicator_id,
        max(w.value) filter (where w.role = 'last') as value1, max(w.value) filter (where w.role = 'first') as value0,
        max(w.numerator) filter (where w.role = 'last') as k1, max(w.denominator) filter (where w.role = 'last') as n1,
        max(w.numerator) filter (where w.role = 'first') as k0, max(w.denominator) filter (where w.role = 'first') as n0,
        max(w.lci_95) filter (where w.role = 'last') as lci1, max(w.uci_95) filter (where w.role = 'last') as uci1,
        max(w.lci_95) filter (where w.role = 'first') as lci0, max(w.uci_95) filter (where w.role = 'first') as uci0,
        case when count(distinct w.ci_method) = 1 then any_value(w.ci_method) else 'mixed' end as pair_method,
        any_value(w.scale) as scale,
        bool_or(w.has_estimated) as is_estimated,
        bool_or(w.has_unreliable) as is_unreliable
    from lsoa_window_values as w
    where w.is_covered
    group by w.la_code, w.lsoa21_code, w.indicator_id
    having count(*) filter (where w.role = 'first') = 1 and count(*) filter (where w.role = 'last') = 1
),

-- the same change test as the LA rows (and fct_indicator_change); an LSOA with an 'estimated' figure (a 2011 LSOA
-- split across the 2021 bridge: an apportioned share of its parent, not a measurement of the LSOA) or an
-- unreliable one is not tested
lsoa_tested as (
    select
        *,
        value1 - value0 as change,
        {{ change_test_method('pair_method', 'k1', 'n1', 'k0', 'n0', 'lci1', 'uci1', 'lci0', 'uci0',
                              'false', 'is_unreliable', 'is_estimated') }} as test_method
    from lsoa_pairs
    where value1 is not null and value0 is not null
),

lsoa_with_p as (
    select
        *,
        {{ change_p_value('test_method', 'k1', 'n1', 'k0', 'n0', 'value1', 'value0', 'lci1', 'uci1', 'lci0', 'uci0') }}
            as p_value
    from lsoa_tested
),

-- Benjamini-Hochberg within the family indicator × LSOA level × since-benchmark × (first, latest window): the
-- windows are the same for every LSOA of an indicator, so the family is every LSOA of Wales tested for it
lsoa_with_q as (
    {{ select_with_bh_q('lsoa_with_p', 'indicator_id', 'p_value', 'q_value') }}
),

lsoa_change as (
    select
        q.*,
        {{ is_rapid_change('q.q_value', 'q.change', 'c.change_threshold', 'false', '(q.is_unreliable or q.is_estimated)') }}
            as is_rapid_change
    from lsoa_with_q as q
    inner join catalogue as c on q.indicator_id = c.indicator_id
),

-- the LSOAs that changed most BY THE ENGINE'S EVIDENCE: only LSOAs whose change is significant after FDR and at
-- least the materiality threshold (rapid change), largest absolute change first (then the smaller q), up to 3
lsoa_counts as (
    select la_code, indicator_id,
           count(*) filter (where p_value is not null) as lsoas_tested_for_change,
           count(*) filter (where is_rapid_change) as lsoas_changed_significantly
    from lsoa_change
    group by la_code, indicator_id
),

most_changed as (
    select r.la_code, r.indicator_id,
           string_agg(r.lsoa21_code, ';' order by r.rn) as lsoas_most_changed,
           string_agg(g.lsoa21_name, ';' order by r.rn) as lsoas_most_changed_names,
           string_agg(round(r.change, 6)::varchar, ';' order by r.rn) as lsoas_most_changed_changes
    from (
        select *, row_number() over (partition by la_code, indicator_id
                                     order by abs(change) desc, q_value, lsoa21_code) as rn
        from lsoa_change
        where is_rapid_change
    ) as r
    inner join geography as g on r.lsoa21_code = g.lsoa21_code
    where r.rn <= 3
    group by r.la_code, r.indicator_id
),

assembled as (
    select
        w.la_code, w.la_name, c.cohesion_factor, w.indicator_id, c.label, c.unit, c.polarity,
        pc.la_periods,
        w.series_key,
        w.bench_label as benchmark_period_label,
        b.value as benchmark_value,
        w.latest_label as latest_period_label,
        l.value as latest_value,
        l.lci_95 as latest_lci_95,
        l.uci_95 as latest_uci_95,
        l.status as latest_status,
        w.bench_label <> w.latest_label as has_two_periods,
        (not w.is_pooled or w.latest_start > w.bench_end) as windows_apart,
        coalesce(b.status = 'unreliable' or l.status = 'unreliable', false) as any_unreliable,
        w.series_break_reason,
        ps.previous_series_label,
        ps.previous_series_value,
        w.is_pooled,
        -- the two figures the change test compares (latest = 1, benchmark = 0)
        l.numerator as k1, l.denominator as n1, b.numerator as k0, b.denominator as n0,
        l.lci_95 as lci1, l.uci_95 as uci1, b.lci_95 as lci0, b.uci_95 as uci0,
        case when l.ci_method = b.ci_method then l.ci_method else 'mixed' end as pair_method,
        coalesce(b.status = 'estimated' or l.status = 'estimated', false) as any_estimated,
        l.scale,
        wl.value as wales_latest_value,
        c.change_threshold as materiality_threshold,
        case when l.value is null then 'not compared'
             else {{ benchmark_comparison('l.lci_95', 'l.uci_95', 'l.value', 'wl.value', 'c.change_threshold', 'l.status') }}
        end as comparison_with_wales,
        {{ benchmark_comparison_note('l.lci_95', 'l.uci_95', 'l.value', 'wl.value', 'c.change_threshold', 'l.status', 'c.caveats') }}
            as comparison_note,
        ur.urban_value, ur.rural_value,
        mc.lsoas_most_changed, mc.lsoas_most_changed_names, mc.lsoas_most_changed_changes,
        lc.lsoas_tested_for_change, lc.lsoas_changed_significantly,
        c.min_reliable_level, c.caveats
    from la_windows_labelled as w
    inner join catalogue as c on w.indicator_id = c.indicator_id
    inner join la_period_counts as pc on w.la_code = pc.la_code and w.indicator_id = pc.indicator_id
    left join previous_series as ps on w.la_code = ps.la_code and w.indicator_id = ps.indicator_id
    left join figures as b on w.la_code = b.la_code and w.indicator_id = b.indicator_id and b.role = 'benchmark'
    left join figures as l on w.la_code = l.la_code and w.indicator_id = l.indicator_id and l.role = 'latest'
    left join figures as wl on w.la_code = wl.la_code and w.indicator_id = wl.indicator_id and wl.role = 'wales_latest'
    left join urban_rural as ur on w.la_code = ur.la_code and w.indicator_id = ur.indicator_id
    left join most_changed as mc on w.la_code = mc.la_code and w.indicator_id = mc.indicator_id
    left join lsoa_counts as lc on w.la_code = lc.la_code and w.indicator_id = lc.indicator_id
),

with_change as (
    select
        *,
        case when has_two_periods and windows_apart and not any_unreliable
             then latest_value - benchmark_value end as change_since_benchmark,
        not has_two_periods and previous_series_label is not null as is_change_across_break
    from assembled
),

-- the change since the benchmark, tested by the exception engine's rules (macros/exception_engine.sql, as
-- fct_indicator_change): only where a change is shown; benchmark and latest are in one series by construction
la_tested as (
    select
        *,
        case when change_since_benchmark is not null then
            {{ change_test_method('pair_method', 'k1', 'n1', 'k0', 'n0', 'lci1', 'uci1', 'lci0', 'uci0',
                                  'false', 'any_unreliable', 'any_estimated') }}
        end as change_test_method
    from with_change
),

la_with_p as (
    select
        *,
        {{ change_p_value('change_test_method', 'k1', 'n1', 'k0', 'n0', 'latest_value', 'benchmark_value',
                          'lci1', 'uci1', 'lci0', 'uci0') }} as change_p_value,
        {{ change_se('change_test_method', 'k1', 'n1', 'k0', 'n0', 'lci1', 'uci1', 'lci0', 'uci0', 'scale') }}
            as change_se
    from la_tested
),

-- Benjamini-Hochberg within the family indicator × LA level × since-benchmark × (benchmark, latest) period
la_with_q as (
    {{ select_with_bh_q('la_with_p', 'indicator_id, benchmark_period_label, latest_period_label',
                        'change_p_value', 'change_q_value') }}
),

la_verdict as (
    select
        *,
        {{ is_rapid_change('change_q_value', 'change_since_benchmark', 'materiality_threshold') }} as is_change_rapid,
        case
            when change_since_benchmark is null and is_change_across_break then 'series break'
            when change_since_benchmark is null then 'not compared'
            when change_p_value is null then 'not tested'
            when change_q_value >= {{ fdr_alpha() }} or change_since_benchmark = 0 then 'no significant change'
            when abs(change_since_benchmark) < materiality_threshold then 'significant but below threshold'
            when change_since_benchmark > 0 then 'significant rise'
            else 'significant fall'
        end as change_verdict
    from la_with_q
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
    series_key::varchar as series_key,
    benchmark_period_label::varchar as benchmark_period_label,
    benchmark_value::double as benchmark_value,
    latest_period_label::varchar as latest_period_label,
    latest_value::double as latest_value,
    latest_lci_95::double as latest_lci_95,
    latest_uci_95::double as latest_uci_95,
    latest_status::varchar as latest_status,
    change_since_benchmark::double as change_since_benchmark,
    (change_since_benchmark - 1.959963984540054 * change_se)::double as change_lci_95,
    (change_since_benchmark + 1.959963984540054 * change_se)::double as change_uci_95,
    change_test_method::varchar as change_test_method,
    change_p_value::double as change_p_value,
    change_q_value::double as change_q_value,
    is_change_rapid::boolean as is_change_rapid,
    change_verdict::varchar as change_verdict,
    (case
        when change_since_benchmark is not null and previous_series_label is not null
            then 'benchmark is the first period of the current series; figures to ' || previous_series_label
                 || ' belong to an earlier series and are not compared: '
                 || coalesce(series_break_reason, 'the source changed')
        when change_since_benchmark is not null then null
        when any_unreliable
            then 'change withheld: the source flags the benchmark or latest figure as unreliable'
        when not has_two_periods and previous_series_label is not null
            then 'change withheld: series break (' || previous_series_label || ' → ' || latest_period_label || '): '
                 || coalesce(series_break_reason, 'the source changed')
        when not has_two_periods
            then 'first year in this series is the benchmark: later years will show change'
        when not windows_apart
            then 'change withheld: needs two 12-month windows that do not overlap (24 months of data)'
        else 'change withheld: the benchmark or latest window is not covered day for day'
    end)::varchar as change_note,
    previous_series_label::varchar as previous_series_label,
    previous_series_value::double as previous_series_value,
    wales_latest_value::double as wales_latest_value,
    (latest_value - wales_latest_value)::double as difference_from_wales,
    materiality_threshold::double as materiality_threshold,
    comparison_with_wales::varchar as comparison_with_wales,
    ({{ polarity_assessment('comparison_with_wales', 'polarity') }})::varchar as assessment_vs_wales,
    comparison_note::varchar as comparison_note,
    urban_value::double as urban_value,
    rural_value::double as rural_value,
    lsoas_most_changed::varchar as lsoas_most_changed,
    lsoas_most_changed_names::varchar as lsoas_most_changed_names,
    lsoas_most_changed_changes::varchar as lsoas_most_changed_changes,
    lsoas_tested_for_change::integer as lsoas_tested_for_change,
    lsoas_changed_significantly::integer as lsoas_changed_significantly,
    min_reliable_level::varchar as min_reliable_level,
    caveats::varchar as caveats
from la_verdict
