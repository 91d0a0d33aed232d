-- One row per (title, genre), parsed from the Python-list string; titles with no genre drop out.
select distinct
    t.title_id,
    t.title_type,
    t.release_year,
    lower(trim(g.genre)) as genre
from {{ ref('stg_titles') }} t
{{ explode_python_list('t.genres_raw', 'g', 'genre') }}
