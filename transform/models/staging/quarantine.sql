-- Rows of the batch that break a row-level rule, with the reason and where they came from.
with titles as (
    select 'titles' as source, _row_number as source_row, _source_file as source_file,
           trim(id) as record_key, {{ title_reject_reason('t') }} as reason
    from {{ source('raw', 'titles') }} t
    where _batch = '{{ var("batch") }}'
),
credits as (
    select 'credits' as source, _row_number as source_row, _source_file as source_file,
           concat_ws('|', person_id, id, role) as record_key, {{ credit_reject_reason('c', ref('stg_titles')) }} as reason
    from {{ source('raw', 'credits') }} c
    where _batch = '{{ var("batch") }}'
)
select source, source_row, source_file, record_key, reason from titles where reason is not null
union all
select source, source_row, source_file, record_key, reason from credits where reason is not null
