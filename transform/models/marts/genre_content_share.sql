-- Per genre: distinct movies and shows, and each type's share in percent.
with counts as (
    select
        genre,
        count(distinct case when title_type = 'MOVIE' then title_id end) as movies,
        count(distinct case when title_type = 'SHOW' then title_id end)  as shows,
        count(distinct title_id)                                          as total
    from {{ ref('int_title_genres') }}
    group by genre
)
select
    genre,
    movies,
    shows,
    total,
    round(100.0 * movies / total, 2) as movie_share_pct,
    round(100.0 * shows / total, 2)  as show_share_pct
from counts
