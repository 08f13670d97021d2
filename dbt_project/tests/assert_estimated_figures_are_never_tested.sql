-- A figure with status 'estimated' (a 2011 LSOA split across the 2021 boundaries: its count is shared out from
-- its parent by Census 2021 population, not counted) is shown but never tested for change, so it can never be
-- rapid change or an exception (docs block exception_method, section 6).
select c.indicator_id, c.geography_level, c.area_code, c.period_label, c.compared_period_label, c.test_method
from {{ ref('fct_indicator_change') }} as c
inner join {{ ref('fct_indicator_value') }} as v
    on v.indicator_id = c.indicator_id and v.geography_level = c.geography_level and v.area_code = c.area_code
    and v.period_start in (c.period_start, c.compared_period_start)
where c.comparison in ('previous_period', 'year_earlier') and v.status = 'estimated'
  and (c.p_value is not null or c.is_rapid_change or c.test_method not like 'not tested: %')
