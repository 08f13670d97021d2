{#-
  Combined cohesion index per 2021 LSOA, in the spirit of Rhondda Cynon Taf's (guide, resources: an
  overall cohesion score and rank per LSOA from administrative data; less reliable datasets kept out of
  the index but monitored on their own), built the way the Welsh Index of Multiple Deprivation (WIMD)
  builds its overall index from its domains. Method: docs block cohesion_index_method (cohesion_index.md).

  1. Members: catalogue indicators with in_cohesion_index = true. Members without usable LSOA data drop out
     and are MARKED (factor_coverage, members_missing), never silently treated as complete.
  2. One value per LSOA and member: point-in-time indicators (Census, WIMD) take the member's latest LSOA
     period; sub-annual indicators (police.uk quarters) pool the latest 12 months by SUMMING numerators and
     denominators (int_indicator__twelve_months). Values with status 'unreliable' are left out.
  3. Scope: LSOAs with a usable value for every member (the latest 12 police.uk months are bundled for Gwent only: Gwent).
  4. Per member: rank the LSOAs in scope (ties averaged; protective members reversed, so a higher rank always
     means more risk) and turn the rank into a normal score, probit(rank / (N + 1)): outliers count as one
     rank step, however extreme the rate.
  5. Per factor: index_weight-weighted mean of its members' normal scores, ranked again (ties averaged) and
     put through WIMD's exponential transformation X = -23 ln(1 - R (1 - exp(-100/23))), R = rank / N,
     so every factor score runs from about 0 to exactly 100 (the highest-risk LSOA on that factor).
  6. score = equal-weighted mean of the factor scores (each factor 1/F); rank 1 and decile 1 = highest risk.
     Each factor's weight share and variance share cov(w_f X_f, score) / var(score) are on every row.
-#}

{#- One sub-score (and share) column per factor that has members with LSOA data. A new factor getting LSOA
    data still enters `score` at once, with weight 1/F; add its columns here and in _index_profiles.yml (a
    warn-level test on factors_used flags it). -#}
{%- set factor_columns = ['economic_disadvantage', 'crime', 'disability', 'local_extra'] -%}

{#- The standard normal quantile (probit) is cm_normal_quantile, one of the exception engine's functions
    (orchestration/lib/duckdb_functions.py: Python's statistics.NormalDist().inv_cdf, Wichura's AS 241). -#}

with catalogue as (
    -- every index member the catalogue defines, with or without LSOA data (for the coverage marks)
    select indicator_id, cohesion_factor, polarity, index_weight
    from {{ ref('indicator_catalogue') }}
    where in_cohesion_index and index_weight > 0 and polarity in ('risk', 'protective')
),

lsoa_rows as (
    select
        v.indicator_id, c.cohesion_factor, c.polarity, c.index_weight,
        v.area_code as lsoa21_code, v.period_start, v.period_end, v.period_label,
        v.value, v.source_release,
        coalesce(v.status = 'unreliable', false) as is_unreliable,
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
        bool_or(is_sub_annual) as is_sub_annual,
        max(period_end) as latest_end,
        arg_max(period_start, period_end) as latest_start,
        arg_max(period_label, period_end) as latest_label,
        bool_and(source_release like 'data.police.uk%') as is_police_uk
    from lsoa_rows
    group by indicator_id
),

member_windows as (
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

-- an LSOA value marked unreliable (ONS reliability notes) is kept out of the index; for a pooled member,
-- an unreliable period anywhere in the 12-month window keeps the whole window out
unreliable as (
    select distinct r.indicator_id, r.lsoa21_code
    from lsoa_rows as r
    inner join member_windows as m on r.indicator_id = m.indicator_id
    where r.is_unreliable and r.period_start >= m.window_start and r.period_end <= m.window_end
),

-- sub-annual members: the LSOA's 12-month window (numerators and denominators summed, every day covered)
pooled as (
    select t.area_code as lsoa21_code, t.indicator_id, t.value as member_value, t.is_complete
    from {{ ref('int_indicator__twelve_months') }} as t
    inner join member_windows as m on t.indicator_id = m.indicator_id and t.window_end = m.window_end
    where m.is_sub_annual and t.geography_level = 'lsoa'
),

member_values as (
    select v.*
    from (
        select lsoa21_code, indicator_id, member_value
        from pooled
        where is_complete and member_value is not null
        union all
        select r.lsoa21_code, r.indicator_id, r.value
        from lsoa_rows as r
        inner join member_windows as m
            on r.indicator_id = m.indicator_id and r.period_start = m.window_start and r.period_end = m.window_end
        where not m.is_sub_annual
    ) as v
    anti join unreliable as u on v.indicator_id = u.indicator_id and v.lsoa21_code = u.lsoa21_code
),

-- members with usable LSOA data
members as (
    select m.*, c.cohesion_factor, c.polarity, c.index_weight
    from member_windows as m
    inner join catalogue as c on m.indicator_id = c.indicator_id
    where m.indicator_id in (select indicator_id from member_values)
),

member_count as (
    select count(*) as n_members,
           count(distinct cohesion_factor) as n_factors,
           string_agg(indicator_id, ';' order by indicator_id) as members_used,
           string_agg(distinct cohesion_factor, ';' order by cohesion_factor) as factors_used,
           string_agg(distinct member_period_label, ', ' order by member_period_label) as index_period_label
    from members
),

-- each factor's catalogue members against those with usable LSOA data: a factor resting on fewer members
-- than the catalogue defines is marked, a factor with none is marked as not in the index
coverage_by_factor as (
    select
        c.cohesion_factor,
        count(*) as n_catalogue,
        count(m.indicator_id) as n_used,
        string_agg(c.indicator_id, ';' order by c.indicator_id) filter (where m.indicator_id is null) as missing
    from catalogue as c
    left join members as m on c.indicator_id = m.indicator_id
    group by c.cohesion_factor
),

coverage as (
    select
        string_agg(
            cohesion_factor || ' ' || n_used::varchar || '/' || n_catalogue::varchar
            || case when n_used = 0 then ' (missing: ' || missing || '; not in the index)'
                    when missing is not null then ' (missing: ' || missing || ')'
                    else '' end,
            '; ' order by cohesion_factor) as factor_coverage,
        string_agg(missing, ';' order by cohesion_factor) as members_missing
    from coverage_by_factor
),

in_scope as (
    select v.lsoa21_code
    from member_values as v
    group by v.lsoa21_code
    having count(distinct v.indicator_id) = (select n_members from member_count)
),

scoped as (
    select
        v.lsoa21_code, v.indicator_id, m.cohesion_factor, m.index_weight,
        -- direction: after this, a higher value always means more risk; compared to 9 decimals, so that equal
        -- rates summed in a different order (quarters) stay tied
        round(v.member_value * case m.polarity when 'protective' then -1 else 1 end, 9) + 0.0 as directed_value,
        count(*) over (partition by v.indicator_id) as n_lsoas
    from member_values as v
    inner join in_scope as s on v.lsoa21_code = s.lsoa21_code
    inner join members as m on v.indicator_id = m.indicator_id
),

-- 4. rank within the member (1 = lowest risk, ties averaged) -> normal score
member_ranked as (
    select
        *,
        (rank() over (partition by indicator_id order by directed_value)
         + (count(*) over (partition by indicator_id, directed_value) - 1) / 2.0)
            / (n_lsoas + 1.0) as p
    from scoped
),

member_scored as (
    select *, cm_normal_quantile(p) as normal_score
    from member_ranked
),

-- 5. factor: weighted mean of its members' normal scores (index_weight normalised within the factor over
-- the members present; rounded to 9 decimals so that ties in exact arithmetic stay ties), ranked, transformed
factor_values as (
    select
        lsoa21_code, cohesion_factor, any_value(n_lsoas) as n_lsoas,
        round({{ exact_sum('index_weight * normal_score') }} / {{ exact_sum('index_weight') }}, 9) + 0.0 as factor_value
    from member_scored
    group by lsoa21_code, cohesion_factor
),

factor_scored as (
    select
        *,
        round(-23.0 * ln(1.0 - (factor_rank / n_lsoas) * (1.0 - exp(-100.0 / 23.0))), 9) + 0.0 as factor_score,
        1.0 / (select n_factors from member_count) as factor_weight
    from (
        select
            *,
            rank() over (partition by cohesion_factor order by factor_value)
                + (count(*) over (partition by cohesion_factor, factor_value) - 1) / 2.0 as factor_rank
        from factor_values
    )
),

-- 6. the index: equal factor weights
scored as (
    select
        lsoa21_code,
        round({{ exact_sum('factor_weight * factor_score') }}, 9) + 0.0 as score,
        {%- for f in factor_columns %}
        any_value(factor_score) filter (where cohesion_factor = '{{ f }}') as score_{{ f }},
        {%- endfor %}
        count(*) as factors_count
    from factor_scored
    group by lsoa21_code
),

-- each factor's share of the index across the LSOAs in scope: its weight, and its contribution to the
-- variance of the score, cov(w_f X_f, score) / var(score) (the contributions add up to 1). Sums are exact
-- (exact_sum), around exact means, so that the shares do not depend on the order the rows arrive in (an
-- incremental build's tables hold the same rows in another order than a full build's).
score_mean as (
    select {{ exact_sum('score') }} / count(*) as mean_score, count(*) as n_scored from scored
),

factor_share as (
    select
        f.cohesion_factor,
        any_value(f.factor_weight) as weight_share,
        {{ exact_sum('(f.factor_weight * f.factor_score - c.mean_contribution) * (s.score - m.mean_score)') }}
            / nullif(any_value(v.var_score), 0) as variance_share
    from factor_scored as f
    inner join scored as s on f.lsoa21_code = s.lsoa21_code
    inner join (
        select cohesion_factor, {{ exact_sum('factor_weight * factor_score') }} / count(*) as mean_contribution
        from factor_scored group by cohesion_factor
    ) as c on f.cohesion_factor = c.cohesion_factor
    cross join score_mean as m
    cross join (
        select {{ exact_sum('(s.score - m.mean_score) ^ 2') }} as var_score
        from scored as s cross join score_mean as m
    ) as v
    group by f.cohesion_factor
),

shares as (
    select
        {%- for f in factor_columns %}
        any_value(weight_share) filter (where cohesion_factor = '{{ f }}') as weight_share_{{ f }},
        any_value(variance_share) filter (where cohesion_factor = '{{ f }}') as variance_share_{{ f }},
        {%- endfor %}
        arg_max(cohesion_factor, variance_share) as largest_variance_share_factor,
        max(variance_share) as largest_variance_share
    from factor_share
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
        mc.n_members as members_count,
        mc.members_used,
        mc.factors_used,
        cv.factor_coverage,
        cv.members_missing,
        {%- for f in factor_columns %}
        sh.weight_share_{{ f }},
        {%- endfor %}
        {%- for f in factor_columns %}
        sh.variance_share_{{ f }},
        {%- endfor %}
        sh.largest_variance_share_factor,
        sh.largest_variance_share,
        sl.lsoas_in_scope::varchar || ' of ' || (select count(*) from geo)::varchar
            || ' LSOAs with a reliable value for every member (police force areas with crime data: '
            || sl.forces || ')' as index_scope,
        sl.lsoas_in_scope
    from scored as s
    inner join geo as g on s.lsoa21_code = g.lsoa21_code
    cross join member_count as mc
    cross join coverage as cv
    cross join shares as sh
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
    factor_coverage::varchar as factor_coverage,
    members_missing::varchar as members_missing,
    {%- for f in factor_columns %}
    weight_share_{{ f }}::double as weight_share_{{ f }},
    {%- endfor %}
    {%- for f in factor_columns %}
    variance_share_{{ f }}::double as variance_share_{{ f }},
    {%- endfor %}
    largest_variance_share_factor::varchar as largest_variance_share_factor,
    largest_variance_share::double as largest_variance_share,
    index_scope::varchar as index_scope,
    lsoas_in_scope::integer as lsoas_in_scope
from final
