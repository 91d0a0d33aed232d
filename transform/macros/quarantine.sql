{#
  Row-level rules for the raw files: the reason a row is rejected, or null when it is kept.
  Staging keeps the rows with a null reason; `quarantine` keeps the others, with the reason.
#}
{% macro title_reject_reason(t) -%}
    case
        when nullif(trim({{ t }}.id), '') is null then 'no title id'
        when upper(trim({{ t }}.type)) not in ('MOVIE', 'SHOW') then 'unknown type'
        when nullif(trim({{ t }}.title), '') is null then 'no title'
    end
{%- endmacro %}

{% macro credit_reject_reason(c, titles) -%}
    case
        when nullif(trim({{ c }}.id), '') is null then 'no title id'
        when nullif(trim({{ c }}.person_id), '') is null then 'no person id'
        when upper(trim({{ c }}.role)) not in ('ACTOR', 'DIRECTOR') then 'unknown role'
        when {{ c }}.id not in (select title_id from {{ titles }}) then 'title not in batch'
    end
{%- endmacro %}
