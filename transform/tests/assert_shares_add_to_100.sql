-- Movie and show shares of a genre add up to 100 (within rounding).
select *
from {{ ref('genre_content_share') }}
where abs(movie_share_pct + show_share_pct - 100) > 0.1
