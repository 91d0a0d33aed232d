-- Snowflake functions DuckDB lacks, as macros, so models written in Snowflake SQL run unchanged.
-- Created in `main` of the warehouse file (not TEMP), so any tool that opens the file
-- (dbt-duckdb, the DuckDB CLI, a BI tool) resolves them too.
create or replace macro main.iff(cond, a, b) as case when cond then a else b end;
create or replace macro main.nvl(a, b) as coalesce(a, b);
create or replace macro main.nvl2(a, b, c) as case when a is not null then b else c end;
create or replace macro main.zeroifnull(a) as coalesce(a, 0);
create or replace macro main.nullifzero(a) as nullif(a, 0);
create or replace macro main.div0(a, b) as case when b = 0 then 0 else a / b end;
create or replace macro main.div0null(a, b) as case when b = 0 or b is null then 0 else a / b end;
create or replace macro main.try_to_number(s) as try_cast(try_cast(s as double) as decimal(38, 0)),
                                           (s, p, sc) as try_cast(s as decimal(38, 10));
create or replace macro main.try_to_decimal(s, p, sc) as try_cast(s as decimal(38, 10));
create or replace macro main.try_to_double(s) as try_cast(s as double);
create or replace macro main.try_to_boolean(s) as try_cast(s as boolean);
create or replace macro main.try_to_date(s) as try_cast(s as date);
create or replace macro main.to_varchar(x) as cast(x as varchar);
create or replace macro main.to_number(x) as cast(cast(x as double) as decimal(38, 0));
create or replace macro main.to_double(x) as cast(x as double);
create or replace macro main.equal_null(a, b) as a is not distinct from b;
create or replace macro main.array_size(a) as len(a);
create or replace macro main.parse_json(s) as json(s);
create or replace macro main.dateadd(part, n, d) as
    case lower(part)
        when 'day' then d + to_days(cast(n as integer))
        when 'week' then d + to_days(7 * cast(n as integer))
        when 'month' then d + to_months(cast(n as integer))
        when 'year' then d + to_years(cast(n as integer))
        when 'hour' then d + to_hours(cast(n as integer))
        when 'minute' then d + to_minutes(cast(n as integer))
        when 'second' then d + to_seconds(cast(n as integer))
    end;
create or replace macro main.sysdate() as now();
create or replace macro main.current_timestamp_ntz() as now()::timestamp;
