{#- dbt's cross-database macros (`dbt.concat(…)`, …), as dbt-duckdb and dbt-snowflake
    compile them, chosen by target.type. Called through the `dbt` namespace (render.rs). -#}
{%- macro __dbt_type_string() %}text{% endmacro -%}
{%- macro __dbt_type_timestamp() %}timestamp{% endmacro -%}
{%- macro __dbt_type_float() %}float{% endmacro -%}
{%- macro __dbt_type_numeric() %}numeric(28,6){% endmacro -%}
{%- macro __dbt_type_bigint() %}bigint{% endmacro -%}
{%- macro __dbt_type_int() %}integer{% endmacro -%}
{%- macro __dbt_type_boolean() %}boolean{% endmacro -%}
{%- macro __dbt_concat(fields) %}{{ fields | join(' || ') }}{% endmacro -%}
{%- macro __dbt_cast(field, type) %}cast({{ field }} as {{ type }}){% endmacro -%}
{%- macro __dbt_safe_cast(field, type) -%}
{%- if target.type == 'snowflake' %}try_cast({{ "'" ~ field ~ "'" if field is number else field }} as {{ type }})
{%- else %}cast({{ field }} as {{ type }}){% endif -%}
{%- endmacro -%}
{%- macro __dbt_hash(field) %}md5(cast({{ field }} as text)){% endmacro -%}
{%- macro __dbt_cast_bool_to_text(field) %}cast({{ field }} as text){% endmacro -%}
{%- macro __dbt_date_trunc(datepart, date) %}date_trunc('{{ datepart }}', {{ date }}){% endmacro -%}
{%- macro __dbt_dateadd(datepart, interval, from_date_or_timestamp) -%}
{%- if target.type == 'snowflake' %}dateadd({{ datepart }}, {{ interval }}, {{ from_date_or_timestamp }})
{%- else -%}
{%- set unit = datepart | lower -%}
{%- if unit == 'quarter' %}({{ from_date_or_timestamp }} + (cast({{ interval }} as bigint) * 3) * interval 1 month)
{%- elif unit == 'week' %}({{ from_date_or_timestamp }} + (cast({{ interval }} as bigint) * 7) * interval 1 day)
{%- else %}({{ from_date_or_timestamp }} + cast({{ interval }} as bigint) * interval 1 {{ unit }}){% endif -%}
{%- endif -%}
{%- endmacro -%}
{%- macro __dbt_datediff(first_date, second_date, datepart) -%}
{%- if target.type == 'snowflake' %}datediff({{ datepart }}, {{ first_date }}, {{ second_date }})
{%- elif datepart == 'week' %}({{ __dbt_datediff(first_date, second_date, 'day') }} // 7 + case when date_part('dow', ({{ first_date }})::timestamp) <= date_part('dow', ({{ second_date }})::timestamp) then case when {{ first_date }} <= {{ second_date }} then 0 else -1 end else case when {{ first_date }} <= {{ second_date }} then 1 else 0 end end)
{%- else %}(date_diff('{{ datepart }}', {{ first_date }}::timestamp, {{ second_date }}::timestamp)){% endif -%}
{%- endmacro -%}
{%- macro __dbt_any_value(expression) -%}
{%- if target.type == 'snowflake' %}any_value({{ expression }}){% else %}arbitrary({{ expression }}){% endif -%}
{%- endmacro -%}
{%- macro __dbt_bool_or(expression) -%}
{%- if target.type == 'snowflake' %}boolor_agg({{ expression }}){% else %}bool_or({{ expression }}){% endif -%}
{%- endmacro -%}
{%- macro __dbt_split_part(string_text, delimiter_text, part_number) -%}
{%- if target.type == 'snowflake' %}split_part({{ string_text }}, {{ delimiter_text }}, {{ part_number }})
{%- else %}string_split({{ string_text }}, {{ delimiter_text }})[{{ part_number }}]{% endif -%}
{%- endmacro -%}
{%- macro __dbt_listagg(measure, delimiter_text="','", order_by_clause=none, limit_num=none) -%}
{%- if limit_num %}{{ exceptions.raise_compiler_error("dbt.listagg with limit_num is not supported: drop the limit") }}{% endif -%}
{%- if target.type == 'snowflake' %}listagg({{ measure }}, {{ delimiter_text }}){% if order_by_clause %} within group ({{ order_by_clause }}){% endif %}
{%- else %}string_agg({{ measure }}, {{ delimiter_text }}{% if order_by_clause %} {{ order_by_clause }}{% endif %}){% endif -%}
{%- endmacro -%}
{%- macro __dbt_length(expression) %}length({{ expression }}){% endmacro -%}
{%- macro __dbt_position(substring_text, string_text) %}position({{ substring_text }} in {{ string_text }}){% endmacro -%}
{%- macro __dbt_replace(field, old_chars, new_chars) %}replace({{ field }}, {{ old_chars }}, {{ new_chars }}){% endmacro -%}
{%- macro __dbt_right(string_text, length_expression) %}right({{ string_text }}, {{ length_expression }}){% endmacro -%}
{%- macro __dbt_escape_single_quotes(expression) -%}
{%- if target.type == 'snowflake' %}{{ expression | replace("'", "\\'") }}{% else %}{{ expression | replace("'", "''") }}{% endif -%}
{%- endmacro -%}
{%- macro __dbt_string_literal(value) %}'{{ value }}'{% endmacro -%}
{%- macro __dbt_except() %}except{% endmacro -%}
{%- macro __dbt_intersect() %}intersect{% endmacro -%}
{%- macro __dbt_current_timestamp() -%}
{%- if target.type == 'snowflake' %}convert_timezone('UTC', current_timestamp()){% else %}now(){% endif -%}
{%- endmacro -%}
