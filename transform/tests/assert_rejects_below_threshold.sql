-- The gate on rejected rows: at most var('max_reject_pct') percent of each file may be rejected.
with loaded as (
    select 'titles' as source, count(*) as n from {{ source('raw', 'titles') }} where _batch = '{{ var("batch") }}'
    union all
    select 'credits' as source, count(*) as n from {{ source('raw', 'credits') }} where _batch = '{{ var("batch") }}'
),
rejected as (
    select source, count(*) as n from {{ ref('quarantine') }} group by source
)
select l.source, l.n as loaded, coalesce(r.n, 0) as rejected
from loaded l
left join rejected r on r.source = l.source
where coalesce(r.n, 0) > l.n * {{ var('max_reject_pct', 1) }} / 100.0
