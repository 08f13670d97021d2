{{ config(tags=['tension']) }}
{#-
  Every area code a partner extract used, resolved to each level above it, so the tension marts can be
  read by LSOA, ward, local authority or police force whatever level a partner reported at.

  Partners may send a 2021 LSOA, a 2011 LSOA (older systems), a 2025 ward or a local authority:
  - lsoa21: its own row of the 2021 LSOA geography (best-fit ward, LA, force);
  - lsoa11: through the ONS exact-fit lookup. Unchanged (U) and merged (M) 2011 LSOAs sit in exactly one
    2021 LSOA, so they take its codes. A split (S) 2011 LSOA covers several 2021 LSOAs: no lsoa21_code,
    and a ward only when all of its 2021 children share one best-fit ward;
  - ward: the ward and its LA; no LSOA (wards hold several);
  - la: the LA only.
  The force comes from the LA. Only the geography seeds are used (not dim_geography), so the tension
  marts do not depend on the public-data build.
-#}
with used as (
    select area_code from {{ ref('stg_partner__tension_reports') }}
    union
    select area_code from {{ ref('stg_partner__incidents') }}
    union
    select area_code from {{ ref('stg_partner__tension_assessments') }}
    union
    select area_code from {{ ref('stg_partner__community_impact_assessments') }}
    union
    select area_code from {{ ref('stg_partner__risk_register') }}
),

lsoa21 as (
    select * from {{ ref('lsoa21_geography') }}
),

exact_fit as (
    select * from {{ ref('lsoa11_lsoa21_exact_fit') }}
),

wards as (
    select * from {{ ref('ward') }}
),

local_authorities as (
    select * from {{ ref('local_authority') }}
),

-- 2011 LSOAs whose code is not also a 2021 code are resolved through the lookup (an unchanged LSOA
-- keeps its code, so it is found as a 2021 LSOA first and gives the same answer).
lsoa11 as (
    select
        f.lsoa11_code,
        any_value(f.lsoa11_name) as lsoa11_name,
        any_value(f.change_code) as change_code,
        any_value(f.la_code) as la_code,
        count(distinct f.lsoa21_code) as lsoa21_children,
        case when count(distinct f.lsoa21_code) = 1 then any_value(f.lsoa21_code) end as lsoa21_code,
        case when count(distinct g.ward_code) = 1 then any_value(g.ward_code) end as ward_code
    from exact_fit as f
    left join lsoa21 as g on f.lsoa21_code = g.lsoa21_code
    where f.lsoa11_code not in (select lsoa21_code from lsoa21)
    group by f.lsoa11_code
),

resolved as (
    select
        u.area_code,
        case
            when g.lsoa21_code is not null then 'lsoa21'
            when l11.lsoa11_code is not null then 'lsoa11'
            when w.ward_code is not null then 'ward'
            when la.la_code is not null then 'la'
        end as area_level,
        coalesce(g.lsoa21_name, l11.lsoa11_name, w.ward_name, la.la_name) as area_name,
        l11.change_code as lsoa11_change_code,
        coalesce(g.lsoa21_code, l11.lsoa21_code) as lsoa21_code,
        coalesce(g.ward_code, l11.ward_code, w.ward_code) as ward_code,
        coalesce(g.la_code, l11.la_code, w.la_code, la.la_code) as la_code
    from used as u
    left join lsoa21 as g on u.area_code = g.lsoa21_code
    left join lsoa11 as l11 on u.area_code = l11.lsoa11_code
    left join wards as w on u.area_code = w.ward_code
    left join local_authorities as la on u.area_code = la.la_code
)

select
    r.area_code,
    r.area_level,
    r.area_name,
    r.lsoa11_change_code,
    r.lsoa21_code,
    g.lsoa21_name,
    r.ward_code,
    w.ward_name,
    r.la_code,
    la.la_name,
    la.police_force_code,
    la.police_force_name
from resolved as r
left join lsoa21 as g on r.lsoa21_code = g.lsoa21_code
left join wards as w on r.ward_code = w.ward_code
left join local_authorities as la on r.la_code = la.la_code
