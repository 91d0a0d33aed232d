{{ config(tags=['after_tests']) }}
-- Per run: tests run, passed, failed, warned, pass rate, rows loaded and rejected, and the
-- share of model columns covered by a test. History is kept in audit; this reads all of it.
with results as (
    select
        run_id,
        count(*)                                  as tests_total,
        count(case when status = 'pass' then 1 end) as tests_passed,
        count(case when status = 'fail' then 1 end) as tests_failed,
        count(case when status = 'warn' then 1 end) as tests_warned
    from {{ source('audit', 'test_results') }}
    group by run_id
)
select
    r.run_id,
    r.batch,
    r.finished_at,
    t.tests_total,
    t.tests_passed,
    t.tests_failed,
    t.tests_warned,
    round(100.0 * t.tests_passed / nullif(t.tests_total, 0), 2) as pass_rate,
    r.rows_loaded,
    r.rows_rejected,
    round(r.column_test_coverage, 4)                             as column_test_coverage
from {{ source('audit', 'runs') }} r
join results t on t.run_id = r.run_id
