{{ config(tags=['tension'], meta={'dagster': {'ref': {'name': 'fct_cia'}}}) }}
-- Every supplied rating of 1–4 is either covered by a logged rating CIA in the same local authority
-- (triggered 61 days before to 14 days after the assessment) or listed as a missing CIA, never both.
with triggering as (
    select * from {{ ref('fct_tension_assessment') }}
    where is_cia_trigger and overall_source = 'supplied'
),

cias as (
    select * from {{ ref('fct_cia') }}
),

checked as (
    select
        t.assessment_id,
        exists (
            select 1 from cias as c
            where c.cia_record_source = 'supplied' and c.trigger = 'rating' and c.la_code = t.la_code
              and c.triggered_on between t.assessment_date - 61 and t.assessment_date + 14
        ) as is_covered,
        exists (
            select 1 from cias as c
            where c.cia_record_source = 'missing' and c.triggered_by_assessment_id = t.assessment_id
        ) as is_listed_missing
    from triggering as t
)

select * from checked where is_covered = is_listed_missing
union all
-- and no missing row for anything that is not a supplied trigger
select c.triggered_by_assessment_id, null, true
from cias as c
where c.cia_record_source = 'missing'
  and c.triggered_by_assessment_id not in (select assessment_id from triggering)
