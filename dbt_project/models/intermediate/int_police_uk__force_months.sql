-- The force × month files that are loaded; an LSOA's figures for a month are complete only when
-- its own force's file for that month is here.
select distinct
    c.force_id,
    f.police_force_code,
    c.month
from {{ ref('stg_police_uk__street_crimes') }} as c
left join {{ ref('police_force') }} as f on c.force_id = f.police_uk_force_id
