{#-
  Indicators that arrive as published values (no numerator/denominator we can sum), at the levels
  they are published: ONS Explore Local Statistics series (LA, police force, Wales; with the published
  95% interval where given; a value ONS notes as unreliable, e.g. an APS estimate on a sample of 3-9,
  gets status 'unreliable' and is kept out of exceptions and the index), Census 2021 LA topic percentages,
  Census 2011 Welsh speakers per 2011 LSOA (carried onto 2021 LSOAs: unchanged and split children take the
  2011 value; a merged LSOA takes the mean of its parents WEIGHTED BY POPULATION, status 'estimated'; the
  weights are the parents' earliest bundled small-area population estimate, mid-2017, the nearest to 2011
  on the 2011 LSOAs).
-#}
with els as (
    select * from {{ source('raw', 'ons_els_indicators') }}
),

els_map as (
    select * from (values
        ('claimant-count', 'Claimant Count', 'claimant_count_rate'),
        ('modelled-unemployment', 'Modelled unemployment rate', 'unemployment_rate_modelled'),
        ('employment-rate', 'Employment rate', 'employment_rate'),
        ('gross-disposable-household-income-per-head', 'Gross disposable household income', 'gdhi_per_head'),
        ('housing-affordability-ratio', 'Housing affordability ratio (residence-based)', 'housing_affordability_ratio'),
        ('children-in-relative-poverty', 'Children in relative poverty before housing costs', 'children_in_relative_poverty'),
        ('qualifications-none-gb', 'No qualifications', 'pct_no_qualifications_aps'),
        ('qualifications-level-3-or-above', 'Level 3 or above qualifications (Great Britain)', 'pct_qualified_level3_plus'),
        ('personal-wellbeing-estimates', 'Satisfaction', 'life_satisfaction'),
        ('homicide-offences', null, 'homicide_rate')
    ) as t(dataset, indicator, indicator_id)
),

els_rows as (
    select
        m.indicator_id,
        case when e.areacd like 'W06%' then 'la' when e.areacd like 'W15%' then 'police_force'
             when e.areacd = 'W92000004' then 'wales' end as geography_level,
        e.areacd as area_code,
        e.areanm as area_name,
        strptime(split_part(e.period, '/', 1), '%Y-%m-%d')::date as period_start,
        case when e.period like '%/P%Y'
             then (strptime(split_part(e.period, '/', 1), '%Y-%m-%d')
                   + to_years(regexp_extract(e.period, '/P(\d+)Y', 1)::integer) - interval 1 day)::date
             else strptime(split_part(e.period, '/', 1), '%Y-%m-%d')::date end as period_end,
        e.period as period_label,
        e.observation as value,
        e.lci_95,
        e.uci_95,
        case when e.notes ilike '%unreliable%' then 'unreliable'
             else coalesce(nullif(e.status, ''), 'published') end as status,
        'ONS Explore Local Statistics: ' || e.dataset as source_release,
        case when e.lci_95 is not null then 'published' else 'none' end as ci_method
    from els as e
    inner join els_map as m on e.dataset = m.dataset and (m.indicator is null or e.indicator = m.indicator)
    where (e.areacd like 'W06%' or e.areacd like 'W15%' or e.areacd = 'W92000004')
      and e.dimensions is null
      and e.observation is not null
),

topics as (
    select * from {{ source('raw', 'census2021_la_topic_percentages') }}
),

topic_rows as (
    select 'pct_no_qualifications' as indicator_id,
           case when area_code = 'W92000004' then 'wales' else 'la' end as geography_level,
           area_code, null::varchar as area_name, date '2021-03-21' as period_start, date '2021-03-21' as period_end,
           'Census 2021' as period_label, percent as value, null::double as lci_95, null::double as uci_95,
           'published' as status, 'Census 2021 TS067 (ONS Census Maps, % of residents aged 16+)' as source_release,
           'none' as ci_method
    from topics where category_name = 'No qualifications'
),

welsh as (
    select * from {{ source('raw', 'census2011_welsh_speakers_lsoa11') }}
),

-- weights for merged 2011 parents: each 2011 LSOA's earliest bundled population estimate (mid-2017)
parent_population as (
    select lsoa11_code, arg_min(all_ages, year::integer) as all_ages
    from {{ source('raw', 'sape_lsoa11_broad_age') }}
    group by lsoa11_code
),

welsh_rows as (
    select 'pct_welsh_speakers' as indicator_id, 'lsoa' as geography_level, l.lsoa21_code as area_code,
           null::varchar as area_name, date '2011-03-27' as period_start, date '2011-03-27' as period_end,
           'Census 2011' as period_label,
           case when count(*) = 1 then any_value(w.pct_able_to_speak_welsh_2011)
                else sum(w.pct_able_to_speak_welsh_2011 * p.all_ages) / sum(p.all_ages) end as value,
           null::double as lci_95, null::double as uci_95,
           case when count(*) > 1 then 'estimated' else 'published' end as status,
           'Census 2011 Welsh language (StatsWales; 2011 LSOAs carried onto 2021)' as source_release,
           'none' as ci_method
    from welsh as w
    inner join {{ ref('lsoa11_lsoa21_exact_fit') }} as l on w.lsoa11_code = l.lsoa11_code
    left join parent_population as p on w.lsoa11_code = p.lsoa11_code
    group by l.lsoa21_code
)

select * from els_rows where geography_level is not null
union all select * from topic_rows
union all select * from welsh_rows
