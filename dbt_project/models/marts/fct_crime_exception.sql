{#-
  The quarterly crime and ASB exceptions per LSOA, ward, local authority and police force (guide, Part 2:
  quarterly updates to the tension monitoring group, reported by exception). Method: docs block
  exception_method, section 5.

  One row per area × crime group (seed crime_groups) × quarter that has three complete months and a complete
  baseline of the previous four quarters (fct_crime_quarterly.is_testable). An LSOA, ward or LA is compared
  with the rest of its police force (Welsh LAs nest in forces); a police force with the rest of Wales (the
  other forces whose quarter is testable; not tested while only one force is loaded).
    own past        the quarter against the LSOA's previous four quarters: exact conditional test, null share
                    days_in_quarter / (days_in_quarter + baseline_days);
    force adjusted  the same, with the null share taken from the REST of the LSOA's police force
                    ((F1 - k1) / ((F1 - k1) + (F0 - k0))): expected = k0 × (F1 - k1) / (F0 - k0), so a
                    force-wide rise or the force's seasonal peak raises the expectation as much as the count.
  Both one-sided (only rises are exceptions), tested only when k1 + k0 >= min_events (10), BH-adjusted
  within geography level × crime group × quarter over the areas tested. is_tested = the force-adjusted test was
  run (a force while no other force is loaded has nothing to compare with: not tested, whatever its count; its
  own-past test still runs); test_status says 'tested' or why not. is_exception = adjusted q < 0.05 AND the excess over
  the force-adjusted expectation is at least the catalogue's change_threshold (per 1,000 person-years).

  Incremental by quarter (macros/incremental_months.sql): every row is computed from its own quarter's rows of
  fct_crime_quarterly (the areas, their force and Wales, and the BH families are all within one quarter), so the
  quarters fct_crime_quarterly rebuilds (a month's quarter and the four after it) are rebuilt here.
-#}
{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='fail',
          pre_hook="{{ police_quarters_reset('quarter_start', after=4) }}") }}

with quarterly as (
    select * from {{ ref('fct_crime_quarterly') }}
    where {{ police_quarters_filter('quarter_start', after=4) }}
),

-- each area's reference: the police force it lies in; a force's reference is Wales
area_reference as (
    select distinct 'lsoa' as geography_level, lsoa21_code as area_code, police_force_code as reference_code
    from {{ ref('dim_geography') }}
    union all
    select distinct 'ward', ward_code, police_force_code from {{ ref('dim_geography') }}
    union all
    select distinct 'la', la_code, police_force_code from {{ ref('dim_geography') }}
    union all
    select distinct 'police_force', police_force_code, 'W92000004' from {{ ref('dim_geography') }}
),

catalogue as (
    select indicator_id, change_threshold::double as change_threshold from {{ ref('indicator_catalogue') }}
),

reported_groups as (
    select crime_group, indicator_id from {{ ref('crime_groups') }} where in_exception_report
),

-- a force's counts; Wales's counts only over forces whose quarter and baseline are complete (testable)
reference as (
    select area_code as reference_code, crime_group, quarter_start,
           crime_count as force_count, baseline_count as force_baseline_count
    from quarterly
    where geography_level = 'police_force' and is_testable
    union all
    select 'W92000004', crime_group, quarter_start, sum(crime_count), sum(baseline_count)
    from quarterly
    where geography_level = 'police_force' and is_testable
    group by crime_group, quarter_start
),

lsoa as (
    select q.*, g.reference_code
    from quarterly as q
    inner join area_reference as g on q.geography_level = g.geography_level and q.area_code = g.area_code
    where q.is_testable
),

expected as (
    select
        l.geography_level, l.area_code, l.area_name, l.reference_code, l.crime_group,
        i.indicator_id, l.quarter_start, l.quarter_label,
        l.crime_count as observed, l.baseline_count, l.days_in_quarter, l.baseline_days, l.population_2021,
        l.population_2021 * l.days_in_quarter / 365.25 as person_years,
        f.force_count, f.force_baseline_count,
        f.force_count - l.crime_count as rest_of_force_count,
        f.force_baseline_count - l.baseline_count as rest_of_force_baseline,
        -- own past: the baseline rescaled to the quarter's length
        l.baseline_count::double * l.days_in_quarter / l.baseline_days as expected_own_past,
        (f.force_count::double / l.days_in_quarter) / nullif(f.force_baseline_count::double / l.baseline_days, 0)
            as force_ratio,
        ((f.force_count - l.crime_count)::double / l.days_in_quarter)
            / nullif((f.force_baseline_count - l.baseline_count)::double / l.baseline_days, 0) as force_ratio_leave_one_out,
        c.change_threshold,
        l.crime_count + l.baseline_count >= {{ min_events() }} as has_min_events
    from lsoa as l
    inner join reference as f
        on l.reference_code = f.reference_code and l.crime_group = f.crime_group
        and l.quarter_start = f.quarter_start
    inner join reported_groups as i on l.crime_group = i.crime_group
    left join catalogue as c on i.indicator_id = c.indicator_id
),

tested as (
    select
        *,
        baseline_count::double * rest_of_force_count / nullif(rest_of_force_baseline, 0) as expected,
        -- own past: exposures are the days of the quarter and of the baseline
        case when has_min_events then cm_poisson_rate_increase_p(observed, baseline_count, days_in_quarter, baseline_days) end
            as p_value_own_past,
        -- force adjusted: the rest of the force's counts stand in for the exposures, so the null share is
        -- (F1 - k1) / ((F1 - k1) + (F0 - k0))
        case when has_min_events and rest_of_force_count + rest_of_force_baseline > 0 then cm_poisson_rate_increase_p(
            observed, baseline_count, rest_of_force_count, rest_of_force_baseline) end as p_value
    from expected
),

q_own as (
    {{ select_with_bh_q('tested', 'geography_level, crime_group, quarter_start', 'p_value_own_past', 'q_value_own_past') }}
),

q_adjusted as (
    {{ select_with_bh_q('q_own', 'geography_level, crime_group, quarter_start', 'p_value', 'q_value') }}
)

select
    quarter_start::date as quarter_start,
    quarter_label::varchar as quarter_label,
    geography_level::varchar as geography_level,
    area_code::varchar as area_code,
    area_name::varchar as area_name,
    reference_code::varchar as reference_code,
    crime_group::varchar as crime_group,
    indicator_id::varchar as indicator_id,
    observed::integer as observed,
    baseline_count::integer as baseline_count,
    days_in_quarter::integer as days_in_quarter,
    baseline_days::integer as baseline_days,
    population_2021::integer as population_2021,
    person_years::double as person_years,
    force_count::integer as force_count,
    force_baseline_count::integer as force_baseline_count,
    force_ratio::double as force_ratio,
    force_ratio_leave_one_out::double as force_ratio_leave_one_out,
    expected_own_past::double as expected_own_past,
    expected::double as expected,
    (observed / nullif(expected, 0))::double as ratio,
    (1000.0 * observed / person_years)::double as rate_per_1000_person_years,
    (1000.0 * expected / person_years)::double as expected_rate_per_1000_person_years,
    (1000.0 * cm_poisson_lower_limit(observed) / person_years)::double as rate_lci_95,
    (1000.0 * cm_poisson_upper_limit(observed) / person_years)::double as rate_uci_95,
    (1000.0 * (observed - expected) / person_years)::double as excess_per_1000_person_years,
    change_threshold::double as change_threshold,
    -- the headline (force-adjusted) test was run; test_status says why not when it was not
    (p_value is not null)::boolean as is_tested,
    case when not has_min_events then 'not tested: fewer than {{ min_events() }} events in the quarter and its baseline'
         when p_value is null and geography_level = 'police_force'
             then 'not tested: nothing to compare with (no other force loaded)'
         when p_value is null then 'not tested: nothing to compare with (no other crime of this group in the rest of the force)'
         else 'tested' end::varchar as test_status,
    p_value_own_past::double as p_value_own_past,
    q_value_own_past::double as q_value_own_past,
    coalesce(q_value_own_past < {{ fdr_alpha() }}, false)::boolean as is_above_own_past,
    p_value::double as p_value,
    q_value::double as q_value,
    coalesce(q_value < {{ fdr_alpha() }}, false)::boolean as is_significant,
    coalesce(1000.0 * (observed - expected) / person_years >= change_threshold, false)::boolean as is_beyond_threshold,
    coalesce(q_value < {{ fdr_alpha() }} and 1000.0 * (observed - expected) / person_years >= change_threshold, false)::boolean
        as is_exception
from q_adjusted
