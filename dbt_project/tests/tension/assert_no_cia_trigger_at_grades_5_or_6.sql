{{ config(tags=['tension'], meta={'dagster': {'ref': {'name': 'fct_tension_assessment'}}}) }}
-- Guide, Part 3: a Community Impact Assessment is required whenever a grade of 1–4 is recorded, and only
-- then. Rows returned: a 5–6 (low / none) rating flagged as a trigger, or a 1–4 rating not flagged.
select assessment_id, current_grade, potential_grade, is_cia_trigger
from {{ ref('fct_tension_assessment') }}
where (is_cia_trigger and current_level4 in ('low', 'none') and potential_level4 in ('low', 'none'))
   or (not is_cia_trigger and (coalesce(current_eep_grade, 9) <= 4 or coalesce(potential_eep_grade, 9) <= 4))
   or (not is_cia_trigger and (current_level4 in ('high', 'medium') or potential_level4 in ('high', 'medium')))
