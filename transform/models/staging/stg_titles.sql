-- One row per title of the batch: typed and cleaned; rejected rows are in `quarantine`.
with src as (
    select * from {{ source('raw', 'titles') }}
    where _batch = '{{ var("batch") }}'
)
select
    trim(id)                                        as title_id,
    trim(title)                                     as title,
    upper(trim(type))                               as title_type,
    {{ clean_text('description') }}                 as description,
    cast({{ text_to_int('release_year') }} as integer) as release_year,
    {{ clean_text('age_certification') }}           as age_certification,
    cast({{ text_to_int('runtime') }} as integer)   as runtime,
    coalesce({{ clean_text('genres') }}, '[]')      as genres_raw,
    coalesce({{ clean_text('production_countries') }}, '[]') as production_countries_raw,
    cast({{ text_to_int('seasons') }} as integer)   as seasons,
    {{ clean_text('imdb_id') }}                     as imdb_id,
    {{ text_to_double('imdb_score') }}              as imdb_score,
    {{ text_to_int('imdb_votes') }}                 as imdb_votes,
    {{ text_to_double('tmdb_popularity') }}         as tmdb_popularity,
    {{ text_to_double('tmdb_score') }}              as tmdb_score,
    _row_number                                     as source_row
from src
where {{ title_reject_reason('src') }} is null
