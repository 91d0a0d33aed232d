-- Per title: scores, votes and popularity. Missing values stay null (never 0), so an
-- unscored title is not mistaken for a badly scored one.
select
    title_id,
    title,
    title_type        as type,
    release_year,
    imdb_score,
    imdb_votes,
    tmdb_popularity,
    tmdb_score
from {{ ref('stg_titles') }}
