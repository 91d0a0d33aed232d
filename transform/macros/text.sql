{# Text cleaning shared by the staging models: trimmed, empty becomes null. #}
{% macro clean_text(column) -%}
    nullif(trim({{ column }}), '')
{%- endmacro %}

{# A number stored as text ('1.0', '588100.0', '') as a double; garbage becomes null. #}
{% macro text_to_double(column) -%}
    try_cast(nullif(trim({{ column }}), '') as double)
{%- endmacro %}

{# The same as a whole number. #}
{% macro text_to_int(column) -%}
    cast(try_cast(nullif(trim({{ column }}), '') as double) as bigint)
{%- endmacro %}

{# A CTE read more than once: DuckDB computes it once when told to; Snowflake decides itself. #}
{% macro materialized_cte() -%}
    {%- if target.type == 'duckdb' %}materialized{% endif -%}
{%- endmacro %}

{# Null, empty or only blanks: exactly `clean_text(column) is null`, but trimming only the values
   that can be blank (they start with a space: ' ', a no-break space, or a code point from
   U+1680 up, where the other Unicode spaces DuckDB's trim removes are). A trim copies every
   string, and this runs over whole raw files. #}
{% macro is_blank(column) -%}
    ({{ column }} is null or {{ column }} = ''
     or (({{ column }} like ' %' or {{ column }} like chr(160) || '%' or {{ column }} >= chr(5760)) and trim({{ column }}) = ''))
{%- endmacro %}
