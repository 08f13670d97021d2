{{ config(tags=['tension'], meta={'dagster': {'ref': {'name': 'fct_risk'}}}) }}
-- Every possible risk score (likelihood 1–5 × impact 1–5) falls in exactly one band of risk_score_bands,
-- and medium (the first band needing an action plan) starts at 5.
with scores as (
    select distinct l * i as score
    from range(1, 6) as lt(l), range(1, 6) as it(i)
),

banded as (
    select s.score, count(b.risk_level) as bands, any_value(b.risk_level) as risk_level
    from scores as s
    left join {{ ref('risk_score_bands') }} as b on s.score between b.min_score and b.max_score
    group by s.score
)

select * from banded
where bands <> 1 or (risk_level = 'low') <> (score < 5)
