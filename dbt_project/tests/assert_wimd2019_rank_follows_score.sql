-- The official WIMD 2019 rank must order the scores (rank 1 = highest score); a mismatch means the
-- score and rank files were joined wrongly.
select lsoa11_code, wimd2019_rank, score_rank
from (
    select lsoa11_code, wimd2019_rank, row_number() over (order by wimd2019_score desc) as score_rank
    from {{ ref('stg_wimd__wimd2019_lsoa11') }}
)
where wimd2019_rank <> score_rank
