{#-
  Combined cohesion index per 2021 LSOA, in the spirit of Rhondda Cynon Taf's (guide, resources: an
  overall cohesion score and rank per LSOA from administrative data; less reliable datasets kept out of
  the index but monitored on their own). Method: docs block cohesion_index_method (cohesion_index.md).

  1. Members: catalogue indicators with in_cohesion_index = true that have LSOA values in
     fct_indicator_value. Members without LSOA data (live-only feeds) drop out automatically.
  2. One value per LSOA and member: point-in-time indicators (Census, WIMD) take the member's latest
     LSOA period; sub-annual indicators (police.uk quarters) pool the latest 12 months by SUMMING
     numerators and denominators (crimes / person-years), never averaging quarterly rates.
  3. Scope: LSOAs with a value for every member (with only Gwent's police.uk files bundled: Gwent).
  4. z = (value - mean) / sd across the LSOAs in scope (sample sd); protective members are negated so
     that a higher z always means more risk to cohesion.
  5. score = index_weight-weighted mean of the directed z over all members; one sub-score per factor
     (weighted mean of that factor's members); rank 1 and decile 1 = highest risk within scope.
-#}

{#- One sub-score column per factor that has members with LSOA data. A new factor getting LSOA data
    still enters `score` at once; add its column here and in _index_profiles.yml (a warn-level test on
    factors_used flags it). -#}
{%- set factor_columns = ['economic_disadvantage', 'crime', 'disability', 'local_extra'] -%}

with catalogue as (
    select indicator_id, cohesion_factor, polarity, index_weight, unit
    from {{ ref('indicator_catalogue') }}
    where in_cohesion_index and index_weight > 0 and polarity in ('risk', 'protective')
),

lsoa_rows as (
    select
        v.indicator_id, c.cohesion_factor, c.polarity, c.index_weight, c.unit,
        v.area_code as lsoa21_code, v.period_start, v.period_end, v.period_label,
        v.numerator, v.denominator, v.value, v.source_release,
        -- a period shorter than a year that is not a single day (census day, WIMD release) is pooled
        (v.period_end > v.period_start and v.period_end < v.period_start + interval 1 year - interval 5 day) as is_sub_annual
    from {{ ref('fct_indicator_value') }} as v
    inner join catalogue as c on v.indicator_id = c.indicator_id
    where v.geography_level = 'lsoa' and v.value is not null
),

-- the reference period of each member: its latest LSOA period, or the 12 months to its latest quarter end
member_period as (
    select
        indicator_id,
        any_value(cohesion_factor) as cohesion_factor,
        any_value(polarity) as polarity,
        any_value(index_weight) as index_weight,
        any_value(unit) as unit,
        bool_or(is_sub_annual) as is_sub_annual,
        max(period_end) as latest_end,
        arg_max(period_start, period_end) as latest_start,
        arg_max(period_label, period_end) as latest_label,
        bool_and(source_release like 'data.police.uk%') as is_police_uk
    from lsoa_rows
    group by indicator_id
),

members as (
    select
        *,
        case when is_sub_annual then (latest_end - interval 1 year + interval 1 day)::date else latest_start end as window_start,
        latest_end as window_end,
        case when is_sub_annual
             then (case when is_police_uk then 'crime and ASB' else indicator_id end)
                  || ' 12 months to ' || strftime(latest_end, '%Y-%m-%d')
             else latest_label end as member_period_label
    from member_period
),

-- sub-annual members: the LSOA's 12-month window (numerators and denominators summed, every day covered)
pooled as (
    select t.area_code as lsoa21_code, t.indicator_id, t.value as member_value, t.is_complete
    from {{ ref('int_indicator__twelve_months') }} as t
    inner join members as m on t.indicator_id = m.indicator_id and t.window_end = m.window_end
    where m.is_sub_annual and t.geography_level = 'lsoa'
),

member_values as (
    select lsoa21_code, indicator_id, member_value
    from pooled
    where is_complete and member_value is not null
    union all
    select r.lsoa21_code, r.indicator_id, r.value
    from lsoa_rows as r
    inner join members as m
        on r.indicator_id = m.indicator_id and r.period_start = m.window_start and r.period_end = m.window_end
    where not m.is_sub_annual
),

member_count as (
    select count(*) as n_members, string_agg(indicator_id, ';' order by indicator_id) as members_used,
           string_agg(distinct cohesion_factor, ';' order by cohesion_factor) as factors_used,
           string_agg(distinct member_period_label, ', ' order by member_period_label) as index_period_label
    from members
),

in_scope as (
    select v.lsoa21_code
    from member_values as v
    group by v.lsoa21_code
    having count(distinct v.indicator_id) = (select n_members from member_count)
),

scoped as (
    select v.*, m.cohesion_factor, m.polarity, m.index_weight
    from member_values as v
    inner join in_scope as s on v.lsoa21_code = s.lsoa21_code
    inner join members as m on v.indicator_id = m.indicator_id
),

standardised as (
    select
        *,
        coalesce((member_value - avg(member_value) over w) / nullif(stddev_samp(member_value) over w, 0), 0.0)
            * case polarity when 'protective' then -1 else 1 end as directed_z
    from scoped
    window w as (partition by indicator_id)
),

scored as (
    select
        lsoa21_code,
        sum(index_weight * directed_z) / sum(index_weight) as score,
        {%- for f in factor_columns %}
        sum(index_weight * directed_z) filter (where cohesion_factor = '{{ f }}')
            / sum(index_weight) filter (where cohesion_factor = '{{ f }}') as score_{{ f }},
        {%- endfor %}
        count(*) as members_count
    from standardised
    group by lsoa21_code
),

geo as (
    select lsoa21_code, lsoa21_name, la_code, la_name, police_force_name from {{ ref('dim_geography') }}
),

scope_label as (
    select
        count(*) as lsoas_in_scope,
        string_agg(distinct g.police_force_name, ', ' order by g.police_force_name) as forces
    from scored as s inner join geo as g on s.lsoa21_code = g.lsoa21_code
),

final as (
    select
        s.lsoa21_code, g.lsoa21_name, g.la_code, g.la_name,
        mc.index_period_label,
        s.score,
        rank() over (order by s.score desc) as rank,
        ntile(10) over (order by s.score desc, s.lsoa21_code) as decile,
        {%- for f in factor_columns %}
        s.score_{{ f }},
        {%- endfor %}
        s.members_count,
        mc.members_used,
        mc.factors_used,
        sl.lsoas_in_scope::varchar || ' of ' || (select count(*) from geo)::varchar
            || ' LSOAs with every member (police force areas with crime data: ' || sl.forces || ')' as index_scope,
        sl.lsoas_in_scope
    from scored as s
    inner join geo as g on s.lsoa21_code = g.lsoa21_code
    cross join member_count as mc
    cross join scope_label as sl
)

select
    lsoa21_code::varchar as lsoa21_code,
    lsoa21_name::varchar as lsoa21_name,
    la_code::varchar as la_code,
    la_name::varchar as la_name,
    index_period_label::varchar as index_period_label,
    score::double as score,
    rank::integer as rank,
    decile::integer as decile,
    {%- for f in factor_columns %}
    score_{{ f }}::double as score_{{ f }},
    {%- endfor %}
    members_count::integer as members_count,
    members_used::varchar as members_used,
    factors_used::varchar as factors_used,
    index_scope::varchar as index_scope,
    lsoas_in_scope::integer as lsoas_in_scope
from final
