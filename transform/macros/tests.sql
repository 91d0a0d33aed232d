{# Generic test: values outside [min_value, max_value] (nulls pass). #}
{% test in_range(model, column_name, min_value, max_value) %}
select {{ column_name }} from {{ model }}
where {{ column_name }} < {{ min_value }} or {{ column_name }} > {{ max_value }}
{% endtest %}

{#
  Drift against the batch that is published now (audit.publishes, active), on a raw source.
  row_count_drift: the batch's row count moved more than max_change_pct percent.
  null_share_drift: a column's share of null-or-empty values moved more than
  max_change_points percentage points. Nothing to compare with (first publish): no failure.
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
shares as (
    select
    {%- for c in columns %}
        100.0 * count(case when _batch = '{{ var("batch") }}' and nullif(trim({{ c }}), '') is null then 1 end)
            / nullif(count(case when _batch = '{{ var("batch") }}' then 1 end), 0) as current_{{ c }},
        100.0 * count(case when _batch = (select batch from previous_batch) and nullif(trim({{ c }}), '') is null then 1 end)
            / nullif(count(case when _batch = (select batch from previous_batch) then 1 end), 0) as previous_{{ c }}{{ "," if not loop.last }}
    {%- endfor %}
    from {{ model }}
    where _batch = '{{ var("batch") }}' or _batch = (select batch from previous_batch)
),
per_column as (
    {%- for c in columns %}
    {% if not loop.first %}union all {% endif %}select '{{ c }}' as column_name, current_{{ c }} as current_pct, previous_{{ c }} as previous_pct from shares
    {%- endfor %}
)
select column_name, round(current_pct, 1) as current_pct, round(previous_pct, 1) as previous_pct
from per_column
where current_pct is not null and previous_pct is not null
  and abs(current_pct - previous_pct) > {{ max_change_points }}
{% endtest %}
