"""Reference text the atlas shows that comes from the marts and seeds rather than from its templates: the
community profile's topics, measures, universes and sources, the catalogue's sources and the series-break
reasons. Listed here with ``N_()`` so the message catalogue extraction sees them and the Welsh pages can show them
in Welsh (``AtlasLang.data_text`` / ``reason``). A new measure or source in the marts is shown in English on the
Welsh pages, marked ``lang="en"``, and reported by ``build_atlas`` as ``untranslated`` until it is added here and
to ``orchestration/lib/pack/locale/cy/LC_MESSAGES/messages.po``.

No Dagster imports.
"""

from __future__ import annotations

from orchestration.lib.pack.i18n import N_

# mart_community_profile.topic (guide, Part 1: the contents of a community profile)
TOPICS: dict[str, str] = {
    "size": N_("Size and settlement"),
    "age_structure": N_("Age"),
    "ethnicity": N_("Ethnic group"),
    "religion": N_("Religion"),
    "welsh_language": N_("Welsh language"),
    "tenure": N_("Housing tenure"),
    "disability": N_("Disability"),
    "qualifications": N_("Qualifications"),
    "economic_activity": N_("Economic activity"),
    "crime": N_("Experiences of crime"),
}

# mart_community_profile.measure
COMMUNITY_MEASURES: tuple[str, ...] = (
    N_('Usual residents'),
    N_('Households'),
    N_('LSOAs (2021)'),
    N_('Residents living in rural LSOAs'),
    N_('Aged 15 years and under'),
    N_('Aged 16 to 24 years'),
    N_('Aged 25 to 34 years'),
    N_('Aged 35 to 49 years'),
    N_('Aged 50 to 64 years'),
    N_('Aged 65 years and over'),
    N_('Ethnic minority (non-White) residents'),
    N_('Asian, Asian British or Asian Welsh: Bangladeshi'),
    N_('Asian, Asian British or Asian Welsh: Chinese'),
    N_('Asian, Asian British or Asian Welsh: Indian'),
    N_('Asian, Asian British or Asian Welsh: Other Asian'),
    N_('Asian, Asian British or Asian Welsh: Pakistani'),
    N_('Black, Black British, Black Welsh, Caribbean or African: African'),
    N_('Black, Black British, Black Welsh, Caribbean or African: Caribbean'),
    N_('Black, Black British, Black Welsh, Caribbean or African: Other Black'),
    N_('Mixed or Multiple ethnic groups: Other Mixed or Multiple ethnic groups'),
    N_('Mixed or Multiple ethnic groups: White and Asian'),
    N_('Mixed or Multiple ethnic groups: White and Black African'),
    N_('Mixed or Multiple ethnic groups: White and Black Caribbean'),
    N_('Other ethnic group: Any other ethnic group'),
    N_('Other ethnic group: Arab'),
    N_('White: English, Welsh, Scottish, Northern Irish or British'),
    N_('White: Gypsy or Irish Traveller'),
    N_('White: Irish'),
    N_('White: Other White'),
    N_('White: Roma'),
    N_('Christian'),
    N_('Buddhist'),
    N_('Hindu'),
    N_('Jewish'),
    N_('Muslim'),
    N_('Sikh'),
    N_('Other religion'),
    N_('No religion'),
    N_('Not answered'),
    N_('Lives rent free'),
    N_('Owned: Owns outright'),
    N_('Owned: Owns with a mortgage or loan'),
    N_('Private rented: Other private rented'),
    N_('Private rented: Private landlord or letting agency'),
    N_('Shared ownership: Shared ownership'),
    N_('Social rented: Other social rented'),
    N_('Social rented: Rents from council or Local Authority'),
    N_('Disabled under the Equality Act'),
    N_('No qualifications'),
    N_('Highest level of qualification: Level 1, 2 or 3 qualifications'),
    N_('Highest level of qualification: Apprenticeship'),
    N_('Highest level of qualification: Level 4 qualifications or above'),
    N_('Highest level of qualification: Other qualifications'),
    N_('Economically active: In employment (including full-time students)'),
    N_('Economically active: Unemployed (including full-time students)'),
    N_('Economically inactive'),
    N_('All recorded crime per 1,000 residents'),
    N_('All recorded crimes (count)'),
    N_('Anti-social behaviour incidents per 1,000 residents'),
    N_('Anti-social behaviour incidents (count)'),
)

# mart_community_profile.universe
COMMUNITY_UNIVERSES: tuple[str, ...] = (
    N_('areas'),
    N_('crimes / incidents'),
    N_('households'),
    N_('people aged 16 years and over'),
    N_('usual residents'),
)

# mart_community_profile.source
COMMUNITY_SOURCES: tuple[str, ...] = (
    N_('Census 2021 TS007A age (6 bands) by 2021 LSOA, summed to the LA (ONS)'),
    N_("Census 2021 TS007A age (6 bands), usual residents summed over the LA's 2021 LSOAs (ONS)"),
    N_('Census 2021 TS021 ethnic group (5 high-level groups) by 2021 LSOA, summed to the LA (ONS)'),
    N_("Census 2021 TS021 ethnic group (detailed, 19 groups) by LA (ONS); % of the groups' total"),
    N_("Census 2021 TS030 religion by 2021 LSOA, summed to the LA (ONS); religion is voluntary, 'Not answered' kept in the total"),
    N_('Census 2021 TS038 disability by 2021 LSOA, summed to the LA (ONS)'),
    N_('Census 2021 TS054 tenure of households by 2021 LSOA, summed to the LA (ONS)'),
    N_("Census 2021 TS054 tenure, total households summed over the LA's 2021 LSOAs (ONS)"),
    N_('Census 2021 TS066 economic activity status by LA, % as published on ONS Census Maps (1 d.p.)'),
    N_('Census 2021 TS067 highest level of qualification by LA, % as published on ONS Census Maps (1 d.p.)'),
    N_('ONS 2021 LSOA boundaries (dim_geography)'),
    N_('ONS 2021 rural-urban classification of LSOAs; Census 2021 usual residents'),
    N_('data.police.uk street-level crime (recorded crime and ASB), 4 quarters pooled; Census 2021 residents as person-years'),
    N_('data.police.uk street-level crime (recorded crime and ASB), 4 quarters summed'),
)

# ref.indicator_catalogue.source (public indicators)
INDICATOR_SOURCES: tuple[str, ...] = (
    N_('Annual Population Survey (Nomis)'),
    N_('Annual Population Survey employment rate, via ONS Explore Local Statistics'),
    N_('Annual Population Survey, via ONS Explore Local Statistics'),
    N_('Census 2021 TS004 Country of birth'),
    N_('Census 2021 TS011 Households by deprivation dimensions'),
    N_('Census 2021 TS019 Migrant indicator'),
    N_('Census 2021 TS021 Ethnic group'),
    N_('Census 2021 TS029 Proficiency in English'),
    N_('Census 2021 TS030 Religion'),
    N_('Census 2021 TS033 Welsh language skills (speaking); bundled figure: Census 2011 via StatsWales'),
    N_('Census 2021 TS038 Disability'),
    N_('Census 2021 TS054 Tenure'),
    N_('Census 2021 TS063 Occupation'),
    N_('Census 2021 TS067 Highest level of qualification'),
    N_('Claimant count (DWP administrative data, published by ONS on Nomis)'),
    N_('DWP National Insurance number allocations to adult overseas nationals (Stat-Xplore)'),
    N_('DWP benefit statistics: PIP and DLA cases with entitlement (Stat-Xplore)'),
    N_('DWP/HMRC Children in low income families: local area statistics, via Explore Local Statistics'),
    N_('Election results (returning officers; Electoral Commission results data)'),
    N_('Home Office Homicide Index, via ONS Explore Local Statistics'),
    N_('Local government election results (returning officers; Electoral Commission results data)'),
    N_('National Survey for Wales (community cohesion questions)'),
    N_('ONS annual personal well-being estimates (APS), via Explore Local Statistics'),
    N_('ONS house price to residence-based earnings ratio, via Explore Local Statistics'),
    N_('ONS mid-year population estimates: components of change'),
    N_('ONS mid-year small area population estimates (SAPE) by LSOA; Census 2021 age'),
    N_('ONS model-based unemployment estimates (APS), via Explore Local Statistics'),
    N_('ONS regional gross disposable household income, via Explore Local Statistics'),
    N_('Welsh Government examination achievements of pupils aged 15 (StatsWales)'),
    N_('Welsh Index of Multiple Deprivation 2025 and 2019 (overall index ranks)'),
    N_('data.police.uk street-level crime'),
)

# seed indicator_series_breaks (fct_indicator_value.series_break_reason)
SERIES_BREAK_REASONS: tuple[str, ...] = (
    N_('Census 2021 counts are not comparable with the mid-2017 to mid-2020 small area population estimates (modelled, on 2011 LSOAs bridged to 2021): a change across them is a change of source, not of the area'),
    N_('The Claimant Count definition changed with Universal Credit (UC claimants not in employment from May 2013; UC claimants required to search for work from April 2015): figures from 2015 are not comparable with earlier years'),
    N_('WIMD 2025 uses different indicators and 2021 LSOAs; WIMD says its ranks are relative within an edition, so shares of the most deprived 10% are not compared across editions (WIMD 2019 vs 2025)'),
)
