-- One row per credit of the batch whose title is in the batch; rejected rows are in `quarantine`.
-- credit_key: a 64-bit hash (HASH() exists in Snowflake and DuckDB alike): cheap to compute
-- and to store, unlike a 32-character md5 string per row.
with src as (
    select * from {{ source('raw', 'credits') }}
    where _batch = '{{ var("batch") }}'
)
select
    hash(trim(person_id), trim(id), upper(trim(role)), coalesce(character, '')) as credit_key,
    cast({{ text_to_int('person_id') }} as bigint)  as person_id,
    trim(id)                                        as title_id,
    trim(name)                                      as person_name,
    {{ clean_text('character') }}                   as character_name,
    upper(trim(role))                               as role,
    _row_number                                     as source_row
from src
where {{ credit_reject_reason('src', ref('stg_titles')) }} is null
