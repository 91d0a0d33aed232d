-- Per release year and type: titles and their average IMDb score (null when none is scored).
select
    release_year,
    title_type                     as type,
    count(*)                       as titles,
    round(avg(imdb_score), 2)      as avg_imdb_score
from {{ ref('stg_titles') }}
group by release_year, title_type
