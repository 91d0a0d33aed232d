-- Per release year and type: titles and their average IMDb score (null when none is scored).
select
    release_year,
    title_type                     as type,
    count(*)                       as titles,
    -- Rounded half up to hundredths in integer arithmetic on the scores' tenths: a float
    -- average on .xx5 is stored just below or above it, and engines' round() disagree there
    -- (DuckDB 1.5 rounds 7.475 up, DuckDB 2 and fakesnow down).
    floor(
        (20 * sum(round(imdb_score * 10)) + count(imdb_score))
        / (2 * nullif(count(imdb_score), 0))
    ) / 100                        as avg_imdb_score
from {{ ref('stg_titles') }}
group by release_year, title_type
