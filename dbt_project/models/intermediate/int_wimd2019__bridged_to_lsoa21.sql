{#-
  WIMD 2019 (published on 2011 LSOAs) carried onto 2021 LSOAs through the ONS exact-fit lookup:
  - unchanged (U): the LSOA's own score, rank and decile;
  - split (S): each 2021 child inherits its 2011 parent's score, rank and decile (the child lies
    wholly inside the parent, and WIMD 2019 has no finer figure);
  - merged (M): the 2011 parents' scores are averaged weighted by their mid-2019 population (ONS
    SAPE), and the average is placed among the 2019 scores: implied rank = 1 + the number of 2011
    LSOAs with a higher score, and the decile follows from that rank. Such a 2021 LSOA has no
    official 2019 rank, so wimd2019_rank is the implied one and the method column says so.
-#}
with lookup as (
    select * from {{ ref('lsoa11_lsoa21_exact_fit') }}
),

wimd as (
    select * from {{ ref('stg_wimd__wimd2019_lsoa11') }}
),

sape as (
    select * from {{ ref('stg_ons__sape2019_population_lsoa11') }}
),

bounds as (
    select * from {{ ref('wimd_decile_bounds') }} where wimd_release = 2019
),

parents as (
    select
        l.lsoa21_code,
        l.change_code,
        l.lsoa11_code,
        w.wimd2019_score,
        w.wimd2019_rank,
        w.wimd2019_decile,
        s.population_mid2019
    from lookup as l
    inner join wimd as w on l.lsoa11_code = w.lsoa11_code
    left join sape as s on l.lsoa11_code = s.lsoa11_code
),

per_lsoa21 as (
    select
        lsoa21_code,
        any_value(change_code) as change_code,
        count(*) as n_parents,
        string_agg(lsoa11_code, ';' order by lsoa11_code) as lsoa11_codes,
        case
            when count(*) = 1 then any_value(wimd2019_score)
            else sum(wimd2019_score * population_mid2019) / sum(population_mid2019)
        end as wimd2019_score,
        case when count(*) = 1 then any_value(wimd2019_rank) end as official_rank
    from parents
    group by lsoa21_code
),

ranked as (
    select
        p.*,
        coalesce(
            p.official_rank,
            1 + (select count(*) from wimd as w where w.wimd2019_score > p.wimd2019_score)
        ) as wimd2019_rank
    from per_lsoa21 as p
)

select
    r.lsoa21_code,
    r.wimd2019_score,
    r.wimd2019_rank,
    b.decile as wimd2019_decile,
    r.lsoa11_codes as wimd2019_lsoa11_codes,
    case r.change_code
        when 'U' then 'unchanged'
        when 'S' then 'split: inherited from 2011 parent'
        when 'M' then 'merged: population-weighted score of 2011 parents, implied rank'
    end as wimd2019_bridge_method
from ranked as r
left join bounds as b
    on r.wimd2019_rank between b.rank_from and b.rank_to
