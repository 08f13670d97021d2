{{ config(tags=['tension', 'shared'], meta={'dagster': {'ref': {'name': 'incident_groups'}}}) }}
-- Each incident group of the seed has a single label (the shared mart shows one per group).
select incident_group, count(distinct incident_group_label) as labels
from {{ ref('incident_groups') }}
group by incident_group
having count(distinct incident_group_label) <> 1
