{# Generic test: values outside [min_value, max_value] (nulls pass). #}
{% test in_range(model, column_name, min_value, max_value) %}
select {{ column_name }} from {{ model }}
where {{ column_name }} < {{ min_value }} or {{ column_name }} > {{ max_value }}
{% endtest %}

{#
  Drift against the batch that is published now (audit.publishes, active), on a raw source.
  row_count_drift: the batch's row count moved more than max_change_pct percent.
  null_share_drift: a column's share of null-or-blank values moved more than
  max_change_points percentage points. Nothing to compare with (first publish, or the
  published batch is this one): no failure. One scan, grouped by batch.
  Severity and thresholds are set per source in models/staging/_sources.yml.
#}
{% test row_count_drift(model, max_change_pct) %}
with previous_batch as (
    select batch from {{ source('audit', 'publishes') }} where active
),
counts as (
    select
        count(case when _batch = '{{ var("batch") }}' then 1 end) as current_rows,
        count(case when _batch = (select batch from previous_batch) then 1 end) as previous_rows
    from {{ model }}
    where _batch = '{{ var("batch") }}' or _batch = (select batch from previous_batch)
)
select current_rows, previous_rows,
       round(100.0 * (current_rows - previous_rows) / previous_rows, 1) as change_pct
from counts
where previous_rows > 0
  and abs(current_rows - previous_rows) * 100.0 / previous_rows > {{ max_change_pct }}
{% endtest %}

{% test null_share_drift(model, columns, max_change_points) %}
with previous_batch as (
    select batch from {{ source('audit', 'publishes') }} where active
),
per_batch as {{ materialized_cte() }} (
    select
        _batch = '{{ var("batch") }}' as is_current,
        count(*) as n_rows
    {%- for c in columns %},
        count(case when {{ is_blank(c) }} then 1 end) as blank_{{ loop.index }}
    {%- endfor %}
    from {{ model }}
    where _batch = '{{ var("batch") }}' or _batch = (select batch from previous_batch)
    group by 1
),
per_column as (
    {%- for c in columns %}
    {% if not loop.first %}union all {% endif %}select '{{ c }}' as column_name, is_current, 100.0 * blank_{{ loop.index }} / n_rows as pct from per_batch
    {%- endfor %}
)
select c.column_name, round(c.pct, 1) as current_pct, round(p.pct, 1) as previous_pct
from per_column c
join per_column p on p.column_name = c.column_name and not p.is_current
where c.is_current
  and abs(c.pct - p.pct) > {{ max_change_points }}
{% endtest %}

{#
  The gate on rejected rows, per landing file: more than max_pct percent of the batch's rows of
  this raw source went to the quarantine (whose `source` is the file's name, the source
  table's). Declared next to the file's landing contract in models/staging/_sources.yml.
#}
{% test rejected_share(model, max_pct) %}
with loaded as (
    select count(*) as n from {{ model }} where _batch = '{{ var("batch") }}'
),
rejected as (
    select count(*) as n from {{ ref(var('quarantine_model', 'quarantine')) }} where source = '{{ model.identifier }}'
)
select l.n as loaded, r.n as rejected, round(100.0 * r.n / l.n, 2) as rejected_pct
from loaded l cross join rejected r
where r.n > l.n * {{ max_pct }} / 100.0
{% endtest %}
