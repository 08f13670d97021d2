{{ config(tags=['tension']) }}
{#-
  Community Impact Assessments (guide, Part 3): the group's CIA log, plus one 'missing' row for every
  rating that required a CIA and has none.

  A CIA is required whenever a grade of 1–4 is recorded (fct_tension_assessment.is_cia_trigger). A
  supplied CIA with trigger 'rating' covers a triggering assessment when it is in the same local authority
  (at the assessment's own area or any area inside the same la_code) and was triggered between 61 days
  before and 14 days after the assessment date: 61 days is the group's two-month meeting cycle (a CIA
  opened at the previous meeting still covers the area), 14 days the time to log a newly ordered one.
  Derived overall rows only restate their community rows' grades, so they never need a CIA of their own.

  For every row: due_on = triggered_on + var('cia_due_days', 28); age_days = (completed_on, else the as-of
  date) − triggered_on; is_overdue when not complete and the as-of date is past due_on.
-#}
with cias as (
    select * from {{ ref('stg_partner__community_impact_assessments') }}
),

assessments as (
    select * from {{ ref('fct_tension_assessment') }}
),

areas as (
    select * from {{ ref('int_partner__area_levels') }}
),

supplied as (
    select
        c.cia_id,
        c.partner,
        'supplied' as cia_record_source,
        c.trigger,
        c.triggered_on,
        c.area_code,
        a.la_code,
        c.community_types,
        c.subject,
        c.status,
        c.completed_on,
        c.overall_risk,
        c.file_id,
        c.sheet,
        c.row_number
    from cias as c
    left join areas as a on c.area_code = a.area_code
),

triggering as (
    select * from assessments
    where is_cia_trigger and overall_source = 'supplied'
),

-- every (rating CIA, triggering assessment) pair the window rule accepts
matches as (
    select
        c.partner,
        c.cia_id,
        t.assessment_id,
        t.assessment_date,
        t.current_level4_rank,
        c.triggered_on
    from supplied as c
    inner join triggering as t
        on c.la_code = t.la_code
        and c.triggered_on between t.assessment_date - 61 and t.assessment_date + 14
    where c.trigger = 'rating'
),

-- the assessment a supplied rating CIA answers: the nearest in time, then the highest tension
cia_assessment as (
    select partner, cia_id, assessment_id
    from matches
    qualify row_number() over (
        partition by partner, cia_id
        order by abs(triggered_on - assessment_date), current_level4_rank, assessment_id
    ) = 1
),

missing as (
    select
        'REQUIRED-' || t.assessment_id as cia_id,
        t.partner,
        'missing' as cia_record_source,
        'rating' as trigger,
        t.assessment_date as triggered_on,
        t.area_code,
        t.la_code,
        [t.community_type] as community_types,
        'No CIA logged for the ' || t.community_type || ' rating of ' || t.current_grade
            || ' (potential ' || t.potential_grade || ') on '
            || strftime(t.assessment_date, '%Y-%m-%d') as subject,
        'missing' as status,
        null::date as completed_on,
        null as overall_risk,
        null as file_id,
        null as sheet,
        null::integer as row_number,
        t.assessment_id as triggered_by_assessment_id
    from triggering as t
    where t.assessment_id not in (select assessment_id from matches)
),

all_cias as (
    select s.*, ca.assessment_id as triggered_by_assessment_id
    from supplied as s
    left join cia_assessment as ca on s.partner = ca.partner and s.cia_id = ca.cia_id
    union all by name
    select * from missing
),

dated as (
    select
        *,
        (triggered_on + {{ var('cia_due_days', 28) }})::date as due_on,
        {{ tension_as_of() }} as as_of_date
    from all_cias
)

select
    d.cia_id::varchar as cia_id,
    d.partner::varchar as partner,
    d.cia_record_source::varchar as cia_record_source,
    d.trigger::varchar as trigger,
    d.triggered_on::date as triggered_on,
    d.area_code::varchar as area_code,
    {{ partner_area_columns('a') }},
    d.community_types::varchar[] as community_types,
    array_to_string(d.community_types, '; ')::varchar as community_types_text,
    d.subject::varchar as subject,
    d.status::varchar as status,
    d.completed_on::date as completed_on,
    d.overall_risk::varchar as overall_risk,
    d.due_on::date as due_on,
    (coalesce(d.completed_on, d.as_of_date) - d.triggered_on)::integer as age_days,
    (d.status <> 'complete' and d.as_of_date > d.due_on)::boolean as is_overdue,
    coalesce(d.completed_on > d.due_on, false)::boolean as completed_late,
    d.triggered_by_assessment_id::varchar as triggered_by_assessment_id,
    d.as_of_date::date as as_of_date,
    d.file_id::varchar as file_id,
    d.sheet::varchar as sheet,
    d.row_number::integer as row_number
from dated as d
left join areas as a on d.area_code = a.area_code
order by d.triggered_on, d.cia_id
