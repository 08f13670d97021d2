-- MSOA figures are summed to LAs through seed msoa21.la_code: every LSOA of an MSOA must be in that LA
-- (2021 LSOAs nest in 2021 MSOAs, which nest in LAs), so an LA total from its MSOAs covers the same
-- residents as one from its LSOAs.
select g.lsoa21_code, g.msoa21_code, g.la_code as lsoa_la_code, m.la_code as msoa_la_code
from {{ ref('dim_geography') }} as g
inner join {{ ref('msoa21') }} as m on g.msoa21_code = m.msoa21_code
where g.la_code <> m.la_code
