-- Each 2021 MSOA once per level it rolls up to (msoa, la, police_force, wales), so an MSOA measure can be
-- summed to every level with one group by. MSOAs nest in LAs (seed msoa21.la_code, the ONS MSOA → LA fit)
-- and LAs in police force areas; they do not nest in wards, and LSOAs nest in them, so a figure that exists
-- only per MSOA has no ward or LSOA value.
with msoa as (
    select m.msoa21_code, m.msoa21_name, m.la_code, l.la_name, l.police_force_code, l.police_force_name
    from {{ ref('msoa21') }} as m
    inner join {{ ref('local_authority') }} as l on m.la_code = l.la_code
)

select msoa21_code, 'msoa' as geography_level, 1 as level_order, msoa21_code as area_code, msoa21_name as area_name from msoa
union all
select msoa21_code, 'la', 3, la_code, la_name from msoa
union all
select msoa21_code, 'police_force', 4, police_force_code, police_force_name from msoa
union all
select msoa21_code, 'wales', 5, 'W92000004', 'Wales' from msoa
