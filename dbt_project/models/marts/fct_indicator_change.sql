{#-
  Change over time for every indicator value (guide, Part 2, Step 4: track every indicator; RAPID change,
  not gradual change, is the risk signal). Method: docs block exception_method (one method for every output).

  One row per fct_indicator_value row × comparison:
    previous_period    the same indicator / level / area's period immediately before, in period_start order
                       (shown even across a series break, with the reason, but never tested there);
    year_earlier       sub-annual series only (quarters): the same quarter a year before, so season cancels;
                       annual series get no such row (it would repeat previous_period);
    force_adjusted     crime and ASB per LSOA, ward, LA and police force: the quarter against the area's previous
                       four quarters scaled by the rest of its police force (a force: by the rest of Wales) -
                       rows of fct_crime_exception, the quarterly report's own test - so that a force-wide rise
                       or season is not read as local change.

  Tests by the kind of figure (exact where counts are small; macros change_test_method, change_p_value and
  change_se, shared with mart_cohesion_profile), run only above a minimum count and never on an unreliable or
  an estimated figure (a 2011 LSOA split across the 2021 boundaries, shared out by population), with
  Benjamini-Hochberg false discovery rate control within indicator × level × comparison × period;
  is_rapid_change = significant after FDR AND |change| >= the catalogue's change_threshold AND not a series
  break AND neither figure flagged unreliable. is_exception = rapid change on the indicator's headline
  comparison (force_adjusted for crime/ASB below Wales, year_earlier for other quarterly series, previous_period
  otherwise): the rows a report by exception shows.

  Incremental by quarter (macros/incremental_months.sql, police_change_quarters): a build of new police.uk months
  rebuilds, whole, the crime and ASB periods whose comparisons involve a changed quarter, and keeps every other row.
-#}
{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='fail',
          pre_hook="{{ police_quarters_reset('period_start', police_indicators=true, quarters=police_change_quarters()) }}") }}

with indicator_value as (
    select
        *,
        (period_end > period_start and period_end < period_start + interval 1 year - interval 5 day) as is_sub_annual
    from {{ ref('fct_indicator_value') }}
),

catalogue as (
    select indicator_id, change_threshold::double as change_threshold from {{ ref('indicator_catalogue') }}
),

-- the quarters a build of new police.uk months rebuilds (worked out once; read only in such a build)
change_quarters as (
    select * from {{ police_change_quarters() }}
),

-- the rows whose comparisons are (re)computed: every row, or in a build of new police.uk months the periods
-- police_change_quarters names (the previous period is looked up over all periods first)
sequenced as (
    select *
    from (
        select
            *,
            lag(period_start) over (partition by indicator_id, geography_level, area_code order by period_start)
                as previous_period_start
        from indicator_value
        where {{ police_rebuild_all() }} or {{ police_indicator_rows() }}
    )
    where {{ police_indicator_quarters_filter('period_start', quarters='(select quarter_start from change_quarters)') }}
),

pairs as (
    select cur.*, 'previous_period' as comparison, cur.previous_period_start as compared_start
    from sequenced as cur
    where cur.previous_period_start is not null
    union all
    select cur.*, 'year_earlier', earlier.period_start
    from sequenced as cur
    inner join indicator_value as earlier
        on cur.indicator_id = earlier.indicator_id
        and cur.geography_level = earlier.geography_level
        and cur.area_code = earlier.area_code
        and earlier.period_start = (cur.period_start - interval 1 year)::date
        and age(earlier.period_end + interval 1 day, earlier.period_start)
            = age(cur.period_end + interval 1 day, cur.period_start)
    where cur.is_sub_annual
),

compared as (
    select
        p.indicator_id, p.cohesion_factor, p.geography_level, p.area_code, p.area_name, p.comparison,
        p.period_label, p.period_start, c.period_label as compared_period_label,
        c.period_start as compared_period_start, p.unit, p.polarity, p.is_sub_annual,
        p.value, c.value as compared_value, p.value - c.value as change,
        p.numerator as k1, p.denominator as n1, c.numerator as k0, c.denominator as n0,
        p.lci_95 as lci1, p.uci_95 as uci1, c.lci_95 as lci0, c.uci_95 as uci0,
        case when p.ci_method = c.ci_method then p.ci_method else 'mixed' end as pair_method,
        p.series_key <> c.series_key as is_series_break,
        case when p.series_key <> c.series_key
             then coalesce(p.series_break_reason, 'different sources: ' || c.source_release || ' vs ' || p.source_release)
        end as series_break_reason,
        p.status = 'unreliable' or c.status = 'unreliable' as is_unreliable,
        -- a 2011 LSOA split across the 2021 boundaries: its figure is a population share of its parent's, not a
        -- count of its own (status 'estimated'), so a change in it is not evidence about the area
        p.status = 'estimated' or c.status = 'estimated' as is_estimated
    from pairs as p
    inner join indicator_value as c
        on p.indicator_id = c.indicator_id
        and p.geography_level = c.geography_level
        and p.area_code = c.area_code
        and p.compared_start = c.period_start
),

tested as (
    select
        *,
        {{ change_test_method('pair_method', 'k1', 'n1', 'k0', 'n0', 'lci1', 'uci1', 'lci0', 'uci0',
                              'is_series_break', 'is_unreliable', 'is_estimated') }} as test_method
    from compared
),

with_p as (
    select
        *,
        {{ change_p_value('test_method', 'k1', 'n1', 'k0', 'n0', 'value', 'compared_value', 'lci1', 'uci1', 'lci0', 'uci0') }}
            as p_value,
        -- approximate (normal) standard error of the change, for its displayed interval
        {{ change_se('test_method', 'k1', 'n1', 'k0', 'n0', 'lci1', 'uci1', 'lci0', 'uci0', unit_scale('unit')) }}
            as se_change
    from tested
),

-- the quarterly report's test, as a comparison of its own
force_adjusted as (
    select
        e.indicator_id, v.cohesion_factor, e.geography_level, e.area_code, e.area_name,
        'force_adjusted' as comparison, e.quarter_label as period_label,
        e.quarter_start as period_start,
        'previous four quarters × ratio of the rest of ' || case when e.geography_level = 'police_force'
            then 'Wales ' else 'the force ' end || coalesce(round(e.force_ratio_leave_one_out, 3)::varchar, '(none)')
            as compared_period_label,
        (e.quarter_start - interval 1 year)::date as compared_period_start,
        v.unit, v.polarity, true as is_sub_annual,
        e.rate_per_1000_person_years as value, e.expected_rate_per_1000_person_years as compared_value,
        e.rate_per_1000_person_years - e.expected_rate_per_1000_person_years as change,
        false as is_series_break, null::varchar as series_break_reason, false as is_unreliable,
        case when e.p_value is not null then 'exact conditional Poisson, force adjusted (one-sided)'
             else e.test_status end as test_method,
        e.p_value, e.q_value,
        -- var(observed − expected) ≈ observed + expected² / baseline count (the expectation is the baseline scaled)
        1000.0 * sqrt(e.observed + coalesce(e.expected ^ 2 / nullif(e.baseline_count, 0), 0)) / e.person_years as se_change
    from {{ ref('fct_crime_exception') }} as e
    inner join (select * from indicator_value
                where {{ police_indicator_quarters_filter('period_start', quarters='(select quarter_start from change_quarters)') }}) as v
        on v.indicator_id = e.indicator_id and v.geography_level = e.geography_level and v.area_code = e.area_code
        and v.period_start = e.quarter_start
),

with_q as (
    {{ select_with_bh_q('with_p', 'indicator_id, geography_level, comparison, period_start', 'p_value', 'q_value') }}
),

all_comparisons as (
    select indicator_id, cohesion_factor, geography_level, area_code, area_name, comparison, period_label,
           period_start, compared_period_label, compared_period_start, unit, polarity, is_sub_annual, value,
           compared_value, change, is_series_break, series_break_reason, is_unreliable, test_method, p_value,
           q_value, se_change
    from with_q
    union all
    select indicator_id, cohesion_factor, geography_level, area_code, area_name, comparison, period_label,
           period_start, compared_period_label, compared_period_start, unit, polarity, is_sub_annual, value,
           compared_value, change, is_series_break, series_break_reason, is_unreliable, test_method, p_value,
           q_value, se_change
    from force_adjusted
),

flagged as (
    select
        a.*,
        cat.change_threshold,
        case when a.q_value is not null then a.q_value < {{ fdr_alpha() }} end as is_significant,
        abs(a.change) >= cat.change_threshold as is_beyond_threshold,
        case
            when a.geography_level in ('lsoa', 'ward', 'la', 'police_force')
                 and a.indicator_id in (select indicator_id from {{ ref('crime_groups') }} where in_exception_report)
                then a.comparison = 'force_adjusted'
            when a.is_sub_annual then a.comparison = 'year_earlier'
            else a.comparison = 'previous_period'
        end as is_headline_comparison
    from all_comparisons as a
    left join catalogue as cat on a.indicator_id = cat.indicator_id
),

rapid as (
    select
        *,
        {{ is_rapid_change('q_value', 'change', 'change_threshold', 'is_series_break', 'is_unreliable') }}
            as is_rapid_change
    from flagged
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
    test_method::varchar as test_method,
    p_value::double as p_value,
    q_value::double as q_value,
    is_significant::boolean as is_significant,
    change_threshold::double as change_threshold,
    is_beyond_threshold::boolean as is_beyond_threshold,
    is_series_break::boolean as is_series_break,
    series_break_reason::varchar as series_break_reason,
    is_unreliable::boolean as is_unreliable,
    is_rapid_change::boolean as is_rapid_change,
    is_headline_comparison::boolean as is_headline_comparison,
    (is_rapid_change and is_headline_comparison)::boolean as is_exception,
    case
        when is_series_break then 'series break'
        when p_value is null then 'not tested'
        when not is_significant or change = 0 then 'no significant change'
        when not is_beyond_threshold then 'significant but below threshold'
        when polarity = 'risk' then case when change > 0 then 'worsening' else 'improving' end
        when polarity = 'protective' then case when change > 0 then 'improving' else 'worsening' end
        else case when change > 0 then 'rapid increase' else 'rapid decrease' end
    end::varchar as direction
from rapid
