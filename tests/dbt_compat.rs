//! A batch through `landfall run`, then the same `transform/` folder through real dbt-core +
//! dbt-duckdb over the same raw tables: every mart must be identical. Generated files in
//! `make test`; the real export in `make conformance`.

#[path = "support/mod.rs"]
mod support;

use support::*;

#[test]
fn a_generated_batch_loads_rejects_two_passes_every_test_and_matches_dbt() {
    let f = Fixture::new();
    let data = f.generated_batch("real", 2000, 21);
    matches_dbt(&f, &data);
}

#[test]
#[ignore = "needs the real export in ../shared/data/netflix: run by `make conformance`"]
fn the_real_export_loads_rejects_two_passes_every_test_and_matches_dbt() {
    let f = Fixture::new();
    let data = f.real_batch("real");
    matches_dbt(&f, &data);
}

fn matches_dbt(f: &Fixture, data: &datasets::Landed) {
    let dbt = dbt();
    let o = f.run("real");
    assert_ok(&o);
    let s = &o.summary;
    assert_eq!(s["loaded"]["titles"], data.titles);
    assert_eq!(s["loaded"]["credits"], data.credits);
    assert_eq!(s["rejected"]["credits"], 2);
    assert_eq!(s["rejected"]["titles"], 0);
    assert_eq!(s["tests"]["failed"], 0);
    assert_eq!(s["tests"]["warned"], 0);
    assert_eq!(
        f.query("select count(*) from marts.title_popularity").scalar_i64() as u64,
        data.titles
    );

    // dbt builds the same project over a copy of the warehouse (raw + audit as landfall left them).
    let copy = f.dir.path().join("dbt.duckdb");
    let out = dbt_over_copy(&dbt, f, &project_dir(), &copy, &["build", "--vars", "{batch: real}"]);
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "dbt build failed:\n{log}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(log.contains("ERROR=0"), "{log}");

    for m in MARTS {
        let ours = f.query(&format!("select * from marts.{m} order by all"));
        let theirs = query_file(&copy, &format!("select * from marts.{m} order by all"));
        assert!(!ours.rows.is_empty(), "{m} is empty");
        assert_eq!(ours.columns, theirs.columns, "{m}: columns differ");
        assert_eq!(ours.rows.len(), theirs.rows.len(), "{m}: row counts differ");
        assert_eq!(ours, theirs, "{m}: landfall and dbt-duckdb disagree");
    }
}

/// `target.name` is the profile's default target, as in dbt: a model branching on it takes the
/// same branch in landfall and in dbt-duckdb (the flagship's profile says `local`).
#[test]
fn target_name_is_the_profiles_target_as_in_dbt() {
    let f = Fixture::new();
    let project = f.dir.path().join("project");
    copy_project(&project);
    std::fs::write(
        project.join("models/marts/target_probe.sql"),
        "select '{{ target.name }}' as target_name, \
         {% if target.name == 'local' %}'the local branch'{% else %}'another branch'{% endif %} as branch\n",
    )
    .unwrap();
    f.generated_batch("t1", 300, 8);
    let o = f.run_project("t1", &project, &[], &[]);
    assert_ok(&o);
    let ours = f.query("select target_name, branch from marts.target_probe");
    assert_eq!(
        ours.rows,
        vec![vec![serde_json::json!("local"), serde_json::json!("the local branch")]]
    );

    let copy = f.dir.path().join("dbt.duckdb");
    dbt_ok(
        &f,
        &project,
        &copy,
        &["run", "--select", "target_probe", "--vars", "{batch: t1}"],
    );
    let theirs = query_file(&copy, "select target_name, branch from marts.target_probe");
    assert_eq!(ours, theirs, "landfall and dbt-duckdb take different branches");
}

/// A model in a folder of its own (`models/reporting/`) is built, as dbt builds every folder:
/// with the marts, after what it refs, into the run's build schema of its schema (dbt: the
/// target's). The same rows as dbt's. A staging model that refs it would read a model not yet
/// built: refused before anything loads, naming both files.
#[test]
fn a_model_in_another_folder_is_built_as_in_dbt_or_refused_when_it_cannot_be() {
    let f = Fixture::new();
    let project = f.dir.path().join("project");
    copy_project(&project);
    std::fs::create_dir_all(project.join("models/reporting")).unwrap();
    std::fs::write(
        project.join("models/reporting/genre_leaders.sql"),
        "select genre, total from {{ ref('genre_content_share') }} where total >= 10\n",
    )
    .unwrap();
    f.generated_batch("r1", 300, 8);
    let o = f.run_project("r1", &project, &["--keep-build"], &[]);
    assert_ok(&o);
    let ours = f.query("select * from build_main.genre_leaders order by all");
    assert!(!ours.rows.is_empty(), "the reporting model was built");

    let copy = f.dir.path().join("dbt.duckdb");
    dbt_ok(
        &f,
        &project,
        &copy,
        &["run", "--select", "+genre_leaders", "--vars", "{batch: r1}"],
    );
    let theirs = query_file(&copy, "select * from main.genre_leaders order by all");
    assert_eq!(ours, theirs, "landfall and dbt-duckdb built different rows");

    std::fs::write(
        project.join("models/staging/stg_backwards.sql"),
        "select * from {{ ref('genre_leaders') }}\n",
    )
    .unwrap();
    let o = f.run_project("r1", &project, &[], &[]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert_eq!(o.summary["error"]["name"], "Landfall.Config");
    let cause = o.summary["error"]["cause"].as_str().unwrap();
    assert!(
        cause.contains("stg_backwards.sql: model 'stg_backwards' refs 'genre_leaders'")
            && cause.contains("models/reporting/genre_leaders.sql")
            && cause.contains("BuildMarts"),
        "{cause}"
    );
    assert_eq!(o.summary["failed_state"], "CheckFiles");
}

/// `exceptions.raise_compiler_error(msg)` stops the run with the user's own message and where
/// it was raised, as dbt does (both at parse: the branch here reads a project var), and only
/// when its branch is taken; `exceptions.warn` and `log`
/// render nothing. The branch not taken builds the same rows as dbt.
#[test]
fn raise_compiler_error_fails_with_the_users_message_as_in_dbt() {
    let f = Fixture::new();
    let project = f.dir.path().join("project");
    copy_project(&project);
    std::fs::write(
        project.join("models/marts/guarded.sql"),
        "{% if var('strict_guard', false) %}{{ exceptions.raise_compiler_error('guarded needs a curated batch') }}{% endif %}\
         {{ log('building guarded', info=True) }}{% do exceptions.warn('guarded is experimental') %}\
         select count(*) as titles from {{ ref('stg_titles') }}\n",
    )
    .unwrap();
    f.generated_batch("g1", 300, 8);
    let o = f.run_project("g1", &project, &[], &[]);
    assert_ok(&o);
    let ours = f.query("select titles from marts.guarded");
    let copy = f.dir.path().join("dbt.duckdb");
    dbt_ok(
        &f,
        &project,
        &copy,
        &["run", "--select", "+guarded", "--vars", "{batch: g1}"],
    );
    assert_eq!(query_file(&copy, "select titles from marts.guarded"), ours);

    // The branch taken: both fail, both with the message.
    let yml = project.join("dbt_project.yml");
    let text = std::fs::read_to_string(&yml).unwrap();
    std::fs::write(&yml, text.replacen("vars:\n", "vars:\n  strict_guard: true\n", 1)).unwrap();
    let o = f.run_project("g1", &project, &[], &[]);
    assert_eq!(o.code, 2, "a configuration error: {}", o.stderr);
    let said = format!("{}{}", o.stdout, o.stderr);
    assert!(
        said.contains("guarded.sql line 1") && said.contains("guarded needs a curated batch"),
        "{said}"
    );
    let out = dbt_over_copy(
        &dbt(),
        &f,
        &project,
        &copy,
        &["run", "--select", "+guarded", "--vars", "{batch: g1}"],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("guarded needs a curated batch"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Model hooks run as dbt runs them: a folder's `+post-hook` from dbt_project.yml, then the
/// model's own `post_hook`s from `config()`, in order, with `this` the model's relation, and a
/// `pre_hook` before the build. The rows are dbt's. A hook that fails fails the run naming
/// the model and the hook (its place among the model's hooks, the project's first), with
/// nothing published, as dbt fails.
#[test]
fn pre_and_post_hooks_run_in_dbts_order_with_this() {
    let f = Fixture::new();
    let project = f.dir.path().join("project");
    copy_project(&project);
    let yml = project.join("dbt_project.yml");
    let text = std::fs::read_to_string(&yml).unwrap();
    let name = "    marts:\n";
    assert!(text.contains(name), "{text}");
    std::fs::write(
        &yml,
        text.replacen(
            name,
            "    hooked:\n      +post-hook: \"delete from {{ this }} where n < 35\"\n    marts:\n",
            1,
        ),
    )
    .unwrap();
    std::fs::create_dir_all(project.join("models/hooked")).unwrap();
    std::fs::write(
        project.join("models/hooked/genre_hooked.sql"),
        "{{ config(materialized='table',\n\
         pre_hook=\"create or replace table main.hook_log as select 'pre' as said\",\n\
         post_hook=[\"update {{ this }} set label = 'hooked' where n >= 45\", \"insert into main.hook_log select 'post ' || count(*) from {{ this }}\"]) }}\n\
         select genre, total as n, 'plain' as label from {{ ref('genre_content_share') }}\n",
    )
    .unwrap();
    f.generated_batch("h1", 300, 8);
    let o = f.run_project("h1", &project, &["--keep-build"], &[]);
    assert_ok(&o);
    let ours = f.query("select * from build_main.genre_hooked order by all");
    assert!(
        ours.rows.iter().any(|r| r[2] == "hooked") && ours.rows.iter().any(|r| r[2] == "plain"),
        "both post-hooks changed rows: {ours:?}"
    );
    let log = f.query("select said from main.hook_log order by said");
    assert_eq!(
        log.rows.len(),
        2,
        "the pre-hook, then the post-hooks after the delete: {log:?}"
    );

    let copy = f.dir.path().join("dbt.duckdb");
    dbt_ok(
        &f,
        &project,
        &copy,
        &["run", "--select", "+genre_hooked", "--vars", "{batch: h1}"],
    );
    let theirs = query_file(&copy, "select * from main.genre_hooked order by all");
    assert_eq!(ours, theirs, "landfall and dbt-duckdb hooked different rows");
    let their_log = query_file(&copy, "select said from main.hook_log order by said");
    assert_eq!(their_log, log, "dbt's hooks saw the same rows");

    // A failing hook: both fail; landfall names the model and the hook, publishes nothing.
    let published = f.query("select count(*) from marts.genre_content_share").scalar_i64();
    let sql = project.join("models/hooked/genre_hooked.sql");
    let text = std::fs::read_to_string(&sql).unwrap();
    std::fs::write(&sql, text.replacen("set label = 'hooked'", "set no_such_column = 1", 1)).unwrap();
    f.generated_batch("h2", 200, 9);
    let o = f.run_project("h2", &project, &[], &[]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    let cause = o.summary["error"]["cause"].as_str().unwrap();
    assert!(
        cause.contains("model genre_hooked") && cause.contains("post_hook 2"),
        "{cause}"
    );
    assert_eq!(o.summary["published"], false);
    assert_eq!(
        f.query("select count(*) from marts.genre_content_share").scalar_i64(),
        published,
        "the published marts are untouched"
    );
    let out = dbt_over_copy(
        &dbt(),
        &f,
        &project,
        &copy,
        &["run", "--select", "+genre_hooked", "--vars", "{batch: h2}"],
    );
    assert!(!out.status.success(), "dbt fails on the hook too");
}

/// Ephemeral models are inlined where they are referenced, as dbt compiles them: an ephemeral
/// that refs another, both read by a model whose own SQL starts with a comment and a `with`.
/// Nothing is built for them; the consumer's rows are dbt's. An ephemeral model marked for
/// publishing is refused at load (nothing would be built to publish).
#[test]
fn ephemeral_models_are_inlined_as_dbt_inlines_them() {
    let f = Fixture::new();
    let project = f.dir.path().join("project");
    copy_project(&project);
    let write = |rel: &str, text: &str| write_file(&project, rel, text);
    write(
        "models/intermediate/int_recent.sql",
        "{{ config(materialized='ephemeral') }}\nselect title_id, title_type, release_year from {{ ref('stg_titles') }} where release_year >= 2010\n",
    );
    write(
        "models/intermediate/int_modern.sql",
        "{{ config(materialized='ephemeral') }}\nwith r as (select * from {{ ref('int_recent') }}) select * from r where release_year >= 2015\n",
    );
    write(
        "models/reporting/modern_by_year.sql",
        "-- modern titles per year and type\nwith y as (\n  select release_year, title_type, count(*) as n from {{ ref('int_modern') }} group by 1, 2\n)\nselect y.*, (select count(*) from {{ ref('int_recent') }}) as recent from y\n",
    );
    f.generated_batch("e1", 400, 8);
    let o = f.run_project("e1", &project, &["--keep-build"], &[]);
    assert_ok(&o);
    let ours = f.query("select * from build_main.modern_by_year order by all");
    assert!(!ours.rows.is_empty());
    let built =
        f.query("select count(*) from information_schema.tables where table_name in ('int_recent', 'int_modern')");
    assert_eq!(built.scalar_i64(), 0, "an ephemeral model is not built");
    let copy = f.dir.path().join("dbt.duckdb");
    dbt_ok(
        &f,
        &project,
        &copy,
        &["run", "--select", "+modern_by_year", "--vars", "{batch: e1}"],
    );
    let theirs = query_file(&copy, "select * from main.modern_by_year order by all");
    assert_eq!(ours, theirs, "landfall and dbt-duckdb built different rows");

    write(
        "models/marts/_eph.yml",
        "version: 2\nmodels:\n  - name: int_recent\n    config:\n      meta: {publish: true}\n",
    );
    let o = f.run_project("e1", &project, &[], &[]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    let said = format!("{}{}", o.stdout, o.stderr);
    assert!(
        said.contains("int_recent.sql: an ephemeral model is never built, so it cannot be published"),
        "{said}"
    );
}

/// dbt's status of each source table after `dbt source freshness` over a copy of the warehouse.
fn dbt_freshness(f: &Fixture, project: &std::path::Path, copy: &std::path::Path) -> Vec<(String, String)> {
    let out = dbt_over_copy(&dbt(), f, project, copy, &["source", "freshness"]);
    let path = f.dir.path().join("dbt-target/sources.json");
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", path.display(), String::from_utf8_lossy(&out.stdout))),
    )
    .unwrap();
    let mut out: Vec<(String, String)> = json["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["unique_id"].as_str().unwrap().rsplit('.').next().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

/// Source `freshness` is checked in the gate, as `dbt source freshness` judges it: the newest
/// `loaded_at_field` (a column or an expression; the table's over the source's) against
/// `warn_after` and `error_after`. Fresh files pass; a table past `warn_after` publishes with a
/// warning; one past `error_after` fails the gate with nothing published. dbt gives each
/// table the same status.
#[test]
fn source_freshness_is_checked_in_the_gate_as_dbt_judges_it() {
    let f = Fixture::new();
    let project = f.dir.path().join("project");
    copy_project(&project);
    let sources = project.join("models/staging/_sources.yml");
    let text = std::fs::read_to_string(&sources).unwrap();
    let text = text.replacen(
        "    schema: raw\n",
        "    schema: raw\n    loaded_at_field: _loaded_at\n    freshness:\n      warn_after: {count: 1, period: day}\n      error_after: {count: 30, period: day}\n",
        1,
    );
    std::fs::write(&sources, &text).unwrap();
    let status = |o: &Outcome| -> Vec<(String, String)> {
        let mut out = Vec::new();
        for table in ["credits", "titles"] {
            let failing = o.summary["failing_tests"].to_string();
            let warned = o.summary["warnings"].to_string();
            let s = if failing.contains(&format!("freshness_error_after_source_raw_{table}")) {
                "error"
            } else if warned.contains(&format!("freshness_warn_after_source_raw_{table}")) {
                "warn"
            } else {
                "pass"
            };
            out.push((table.to_string(), s.to_string()));
        }
        out
    };
    let copy = f.dir.path().join("dbt.duckdb");

    f.generated_batch("f1", 300, 8);
    let o = f.run_project("f1", &project, &[], &[]);
    assert_ok(&o);
    assert_eq!(o.summary["tests"]["warned"], 0, "{}", o.summary["warnings"]);
    assert_eq!(
        status(&o),
        [("credits".into(), "pass".into()), ("titles".into(), "pass".into())]
    );
    assert_eq!(dbt_freshness(&f, &project, &copy), status(&o));

    // titles three days old: a warning, published anyway.
    let stale = text.replacen(
        "      - name: titles\n",
        "      - name: titles\n        loaded_at_field: \"_loaded_at - interval 3 day\"\n",
        1,
    );
    std::fs::write(&sources, &stale).unwrap();
    f.generated_batch("f2", 300, 9);
    let o = f.run_project("f2", &project, &[], &[]);
    assert_ok(&o);
    assert_eq!(o.summary["published"], true);
    assert_eq!(
        status(&o),
        [("credits".into(), "pass".into()), ("titles".into(), "warn".into())]
    );
    assert_eq!(dbt_freshness(&f, &project, &copy), status(&o));

    // credits from 2020: the gate fails, nothing published.
    let published = f.query("select count(*) from marts.title_popularity").scalar_i64();
    let old = stale.replacen(
        "      - name: credits\n",
        "      - name: credits\n        loaded_at_field: \"cast('2020-01-01' as timestamp)\"\n",
        1,
    );
    std::fs::write(&sources, &old).unwrap();
    f.generated_batch("f3", 200, 10);
    let o = f.run_project("f3", &project, &[], &[]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert_eq!(o.summary["error"]["name"], "Landfall.QualityGate");
    assert_eq!(
        status(&o),
        [("credits".into(), "error".into()), ("titles".into(), "warn".into())]
    );
    assert_eq!(
        f.query("select count(*) from marts.title_popularity").scalar_i64(),
        published,
        "the published marts are untouched"
    );
    assert_eq!(dbt_freshness(&f, &project, &copy), status(&o));
}

/// dbt's cross-database macros (`dbt.concat`, `dbt.safe_cast`, `dbt.type_string`,
/// `dbt.datediff`, `dbt.dateadd`, `dbt.date_trunc`, `dbt.hash`, `dbt.split_part`,
/// `dbt.listagg`, `dbt.bool_or`, `dbt.any_value`, …) compile as dbt-duckdb compiles them: the
/// same rows and column types as dbt's. A macro the engine lacks is refused at load naming it.
#[test]
fn cross_database_macros_compile_as_dbt_compiles_them() {
    let f = Fixture::new();
    let project = f.dir.path().join("project");
    copy_project(&project);
    let write = |rel: &str, text: &str| write_file(&project, rel, text);
    write(
        "models/reporting/cross_db_rows.sql",
        r#"select
    {{ dbt.concat(["title_id", "'-'", "title_type"]) }} as k,
    {{ dbt.safe_cast("release_year", dbt.type_string()) }} as year_text,
    cast(runtime as {{ dbt.type_bigint() }}) as runtime_big,
    cast(imdb_score as {{ dbt.type_float() }}) as score,
    cast(imdb_score as {{ dbt.type_numeric() }}) as score_num,
    cast(release_year as {{ dbt.type_int() }}) as year_int,
    {{ dbt.hash("title_id") }} as h,
    {{ dbt.datediff("cast('2000-01-01' as date)", "make_date(release_year, 3, 1)", 'day') }} as days,
    {{ dbt.datediff("cast('2000-01-01' as date)", "make_date(release_year, 3, 1)", 'week') }} as weeks,
    {{ dbt.dateadd('month', 2, "make_date(release_year, 1, 31)") }} as plus_two_months,
    {{ dbt.date_trunc('month', "make_date(release_year, 5, 17)") }} as month_start,
    {{ dbt.split_part("title_id", "'m'", 2) }} as after_m,
    {{ dbt.right("title_id", 2) }} as last_two,
    {{ dbt.length("title") }} as title_length,
    {{ dbt.position("'e'", "title") }} as first_e,
    {{ dbt.replace("title", "'a'", "'A'") }} as shouted,
    {{ dbt.cast_bool_to_text("release_year > 2000") }} as recent_text,
    {{ dbt.string_literal(dbt.escape_single_quotes("it's")) }} as quoted,
    cast({{ dbt.current_timestamp() }} as date) <= current_date as now_ok
from {{ ref('stg_titles') }}
"#,
    );
    write(
        "models/reporting/cross_db_groups.sql",
        r#"select
    title_type,
    {{ dbt.listagg("title_id", "','", "order by title_id") }} as ids,
    {{ dbt.bool_or("release_year > 2020") }} as any_recent,
    {{ dbt.any_value("'x'") }} as x,
    count(*) as n
from {{ ref('stg_titles') }}
group by title_type
{{ dbt.except() }}
select 'NONE', '', false, 'x', 0
"#,
    );
    f.generated_batch("x1", 200, 8);
    let o = f.run_project("x1", &project, &["--keep-build"], &[]);
    assert_ok(&o);
    let copy = f.dir.path().join("dbt.duckdb");
    dbt_ok(
        &f,
        &project,
        &copy,
        &[
            "run",
            "--select",
            "+cross_db_rows",
            "+cross_db_groups",
            "--vars",
            "{batch: x1}",
        ],
    );
    for m in ["cross_db_rows", "cross_db_groups"] {
        built_as_dbt_built(&f, &copy, m);
    }

    write(
        "models/reporting/cross_db_rows.sql",
        "select {{ dbt.generate_series(3) }} as n\n",
    );
    let o = f.run_project("x1", &project, &[], &[]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    let said = format!("{}{}", o.stdout, o.stderr);
    assert!(
        said.contains("cross_db_rows.sql line 1") && said.contains("dbt.generate_series is not supported"),
        "{said}"
    );
}

/// `run_started_at` is the execution's start (the same in every state, from
/// `$$.Execution.StartTime`), a UTC datetime as dbt's is: the same text as dbt renders for the
/// parts a run on the same day shares (its `strftime`, `year`, its `str()` shape, its zone).
#[test]
fn run_started_at_renders_as_dbts_datetime() {
    let f = Fixture::new();
    let project = f.dir.path().join("project");
    copy_project(&project);
    std::fs::create_dir_all(project.join("models/reporting")).unwrap();
    std::fs::write(
        project.join("models/reporting/run_clock.sql"),
        "select '{{ run_started_at.strftime(\"%Y-%m-%d %Z%z\") }}' as day, {{ run_started_at.year }} as y,\n\
         length('{{ run_started_at }}') between 25 and 32 as str_shape, '{{ run_started_at }}' like '% %+00:00' as str_zone,\n\
         '{{ run_started_at.isoformat() }}' like '____-__-__T__:__:__%+00:00' as iso_shape\n",
    )
    .unwrap();
    f.generated_batch("c1", 100, 8);
    let o = f.run_project("c1", &project, &["--keep-build"], &[]);
    assert_ok(&o);
    let ours = f.query("select * from build_main.run_clock");
    let copy = f.dir.path().join("dbt.duckdb");
    dbt_ok(
        &f,
        &project,
        &copy,
        &["run", "--select", "+run_clock", "--vars", "{batch: c1}"],
    );
    let theirs = query_file(&copy, "select * from main.run_clock");
    assert_eq!(
        ours, theirs,
        "landfall and dbt-duckdb rendered run_started_at differently"
    );
    assert_eq!(ours.rows[0][2..], [true, true, true], "{ours:?}");
}

/// Python's mutable lists and dicts, as dbt's Jinja has them: `{% set cols = [] %}` grown with
/// `{% do cols.append(…) %}` (in a project macro too), a dict built with `update` and read
/// with `items()` and `get`. The same SQL, so the same rows, as dbt's.
#[test]
fn do_append_and_update_build_lists_and_dicts_as_in_dbt() {
    let f = Fixture::new();
    let project = f.dir.path().join("project");
    copy_project(&project);
    std::fs::write(
        project.join("macros/column_list.sql"),
        "{% macro column_list(names, prefix) -%}\n\
         {%- set out = [] -%}\n\
         {%- for n in names %}{% do out.append(prefix ~ n) %}{% endfor -%}\n\
         {{ out | join(', ') }}\n\
         {%- endmacro %}\n",
    )
    .unwrap();
    std::fs::create_dir_all(project.join("models/reporting")).unwrap();
    std::fs::write(
        project.join("models/reporting/built_by_lists.sql"),
        "{%- set labels = {} -%}\n\
         {%- do labels.update({'MOVIE': 'film', 'SHOW': 'series'}) -%}\n\
         {%- do labels.update({'SHOW': 'tv'}) -%}\n\
         select {{ column_list(['title_id', 'title_type', 'release_year'], 't.') }},\n\
         case t.title_type {% for k, v in labels.items() %}when '{{ k }}' then '{{ v }}' {% endfor %}else '{{ labels.get('OTHER', 'other') }}' end as label\n\
         from {{ ref('stg_titles') }} t\n",
    )
    .unwrap();
    f.generated_batch("l1", 150, 8);
    let o = f.run_project("l1", &project, &["--keep-build"], &[]);
    assert_ok(&o);
    let ours = f.query("select * from build_main.built_by_lists order by all");
    assert!(ours.rows.iter().any(|r| r[3] == "tv"), "{ours:?}");
    let copy = f.dir.path().join("dbt.duckdb");
    dbt_ok(
        &f,
        &project,
        &copy,
        &["run", "--select", "+built_by_lists", "--vars", "{batch: l1}"],
    );
    let theirs = query_file(&copy, "select * from main.built_by_lists order by all");
    assert_eq!(ours, theirs, "landfall and dbt-duckdb built different rows");
}

/// `store_failures: true` keeps a test's failing rows in a table named after the test (its own
/// `name:` when it has one), in the schema dbt gives it (`generate_schema_name('dbt_test__audit')`): the same rows as dbt
/// stores, a passing test's table empty. A warn-severity test stores and still publishes.
#[test]
fn store_failures_keeps_the_failing_rows_where_dbt_keeps_them() {
    let f = Fixture::new();
    let project = f.dir.path().join("project");
    copy_project(&project);
    let yml = project.join("models/staging/_staging.yml");
    let text = std::fs::read_to_string(&yml).unwrap();
    let old = "          - accepted_values:\n              arguments:\n                values: ['MOVIE', 'SHOW']\n";
    assert!(text.contains(old), "{text}");
    std::fs::write(
        &yml,
        text.replacen(
            old,
            &format!(
                "{old}          - accepted_values:\n              name: title_type_is_movie\n              arguments:\n                values: ['MOVIE']\n              config: {{severity: warn, store_failures: true}}\n\
                 \x20         - accepted_values:\n              arguments:\n                values: ['MOVIE', 'SHOW', 'OTHER']\n              config: {{store_failures: true, schema: kept}}\n"
            ),
            1,
        ),
    )
    .unwrap();
    f.generated_batch("s1", 200, 8);
    let o = f.run_project("s1", &project, &[], &[]);
    assert_ok(&o);
    assert_eq!(o.summary["published"], true);
    let failing = "select * from dbt_test__audit.title_type_is_movie order by all";
    let ours = f.query(failing);
    assert_eq!(ours.rows.len(), 1, "the SHOW titles, counted: {ours:?}");
    assert_eq!(ours.rows[0][0], "SHOW");
    let passing = "select count(*) from kept.accepted_values_stg_titles_title_type__MOVIE__SHOW__OTHER";
    assert_eq!(f.query(passing).scalar_i64(), 0, "a passing test's table is empty");

    let copy = f.dir.path().join("dbt.duckdb");
    dbt_ok(
        &f,
        &project,
        &copy,
        &[
            "build",
            "--select",
            "stg_titles",
            "stg_credits",
            "int_title_genres",
            "--vars",
            "{batch: s1}",
        ],
    );
    assert_eq!(
        query_file(&copy, failing),
        ours,
        "landfall and dbt stored different failures"
    );
    assert_eq!(query_file(&copy, passing).scalar_i64(), 0);
}

/// dbt's `execute`: false while the project is parsed, true when the model is built, so a
/// `{% if execute %}` branch renders into the built SQL as in dbt.
#[test]
fn execute_is_true_when_building_as_in_dbt() {
    let f = Fixture::new();
    let project = f.dir.path().join("project");
    copy_project(&project);
    std::fs::create_dir_all(project.join("models/reporting")).unwrap();
    std::fs::write(
        project.join("models/reporting/phase.sql"),
        "select {% if execute %}'built'{% else %}'parsed'{% endif %} as phase, count(*) as n from {{ ref('stg_titles') }}\n",
    )
    .unwrap();
    f.generated_batch("p1", 100, 8);
    let o = f.run_project("p1", &project, &["--keep-build"], &[]);
    assert_ok(&o);
    let ours = f.query("select * from build_main.phase");
    assert_eq!(ours.rows[0][0], "built");
    let copy = f.dir.path().join("dbt.duckdb");
    dbt_ok(
        &f,
        &project,
        &copy,
        &["run", "--select", "+phase", "--vars", "{batch: p1}"],
    );
    assert_eq!(query_file(&copy, "select * from main.phase"), ours);
}

/// `adapter.dispatch` picks `<adapter>__<macro>`, else `default__<macro>`, and `return()`
/// hands its value back, as dbt does: SQL text, a list (looped over, its other output
/// discarded), a boolean from a macro calling another; `adapter.dispatch('concat', 'dbt')` is
/// dbt's own macro. An adapter method landfall lacks is refused at load naming the file and
/// line.
#[test]
fn adapter_dispatch_and_return_work_as_in_dbt() {
    let f = Fixture::new();
    let project = f.dir.path().join("project");
    copy_project(&project);
    let write = |rel: &str, text: &str| write_file(&project, rel, text);
    write(
        "macros/dispatched.sql",
        "{% macro type_label(col) -%}\n  {{ return(adapter.dispatch('type_label')(col)) }}\n{%- endmacro %}\n\
         {% macro default__type_label(col) %}'default:' || {{ col }}{% endmacro %}\n\
         {% macro duckdb__type_label(col) %}'duckdb:' || {{ col }}{% endmacro %}\n\
         {% macro shout(col) %}{{ return(adapter.dispatch('hello_label')(col)) }}{% endmacro %}\n\
         {% macro default__hello_label(col) %}upper({{ col }}){% endmacro %}\n\
         {% macro joined(a, b) %}{% set parts = [a, b] %}{{ return(adapter.dispatch('concat', 'dbt')(parts)) }}{% endmacro %}\n\
         {% macro kinds() %}\n  -- discarded with the rest of the output, as dbt discards it\n  {{ return(['MOVIE', 'SHOW']) }}\n{% endmacro %}\n\
         {% macro wide() %}{{ return(kinds() | length > 1) }}{% endmacro %}\n",
    );
    std::fs::create_dir_all(project.join("models/reporting")).unwrap();
    write(
        "models/reporting/dispatched.sql",
        "select {{ type_label('title_type') }} as label, {{ shout('title') }} as loud, {{ joined('title_id', \"'!'\") }} as bang\n\
         {% for k in kinds() %}, title_type = '{{ k }}' as is_{{ k | lower }}{% endfor %}{% if wide() %}, true as wide{% endif %}\n\
         from {{ ref('stg_titles') }}\n",
    );
    f.generated_batch("d1", 120, 8);
    let o = f.run_project("d1", &project, &["--keep-build"], &[]);
    assert_ok(&o);
    let ours = f.query("select * from build_main.dispatched order by all");
    assert!(
        ours.rows.iter().all(|r| r[0].as_str().unwrap().starts_with("duckdb:")),
        "{ours:?}"
    );
    let copy = f.dir.path().join("dbt.duckdb");
    dbt_ok(
        &f,
        &project,
        &copy,
        &["run", "--select", "+dispatched", "--vars", "{batch: d1}"],
    );
    assert_eq!(query_file(&copy, "select * from main.dispatched order by all"), ours);

    let refused = |text: &str, says: &[&str]| {
        write("macros/dispatched.sql", text);
        let o = f.run_project("d1", &project, &[], &[]);
        assert_eq!(o.code, 2, "{}", o.stderr);
        let said = format!("{}{}", o.stdout, o.stderr);
        for s in says {
            assert!(said.contains(s), "{said}");
        }
    };
    refused(
        "{% macro type_label(col) %}\n{% do adapter.drop_relation(this) %}{{ return(col) }}{% endmacro %}\n\
         {% macro shout(col) %}{{ col }}{% endmacro %}{% macro joined(a, b) %}{{ a }}{% endmacro %}\n\
         {% macro kinds() %}{{ return([]) }}{% endmacro %}{% macro wide() %}{{ return(false) }}{% endmacro %}\n",
        &[
            "macros/dispatched.sql line 2",
            "`adapter.drop_relation` is not supported",
        ],
    );
}

/// An enforced contract, as dbt enforces it: the table is created with the declared types (in
/// the contract's column order, `text` being the engine's VARCHAR) and the same rows as
/// dbt-duckdb's, a contracted view is checked and built. A returned type, a column too many
/// or a `not_null` row the contract does not allow fail both landfall and dbt, landfall naming
/// the model and each difference, nothing published. A contracted column without a
/// `data_type` is refused at load.
#[test]
fn an_enforced_contract_builds_the_declared_columns_or_fails_as_in_dbt() {
    let f = Fixture::new();
    let project = f.dir.path().join("project");
    copy_project(&project);
    let write = |rel: &str, text: &str| write_file(&project, rel, text);
    let model = "{{ config(materialized='table') }}\n\
         select genre, total as n, cast(total as double) / 2 as half from {{ ref('genre_content_share') }}\n";
    write("models/reporting/genre_contract.sql", model);
    write(
        "models/reporting/genre_contract_view.sql",
        "select genre, movies from {{ ref('genre_content_share') }}\n",
    );
    let yml = "version: 2\nmodels:\n  - name: genre_contract\n    config:\n      contract: {enforced: true}\n    columns:\n\
         \x20     - name: n\n        data_type: bigint\n        constraints: [{type: not_null}]\n\
         \x20     - name: genre\n        data_type: text\n\
         \x20     - name: half\n        data_type: double\n\
         \x20 - name: genre_contract_view\n    config:\n      contract: {enforced: true}\n    columns:\n\
         \x20     - name: genre\n        data_type: varchar\n      - name: movies\n        data_type: bigint\n";
    write("models/reporting/_contract.yml", yml);
    f.generated_batch("c1", 300, 8);
    let o = f.run_project("c1", &project, &["--keep-build"], &[]);
    assert_ok(&o);
    let copy = f.dir.path().join("dbt.duckdb");
    dbt_ok(
        &f,
        &project,
        &copy,
        &[
            "run",
            "--select",
            "+genre_contract",
            "+genre_contract_view",
            "--vars",
            "{batch: c1}",
        ],
    );
    for m in ["genre_contract", "genre_contract_view"] {
        let our_types = built_as_dbt_built(&f, &copy, m);
        if m == "genre_contract" {
            let cols: Vec<String> = our_types.rows.iter().map(|r| format!("{} {}", r[0], r[1])).collect();
            assert_eq!(
                cols,
                ["\"n\" \"BIGINT\"", "\"genre\" \"VARCHAR\"", "\"half\" \"DOUBLE\""],
                "the contract's order and types"
            );
        }
    }
    let published = f.marts_snapshot();

    // Each breach fails both; landfall names the model and the difference, publishes nothing.
    let breaches = [
        (
            model.replace("total as n", "cast(total as integer) as n"),
            "n is INTEGER in the model, BIGINT in the contract",
        ),
        (
            model.replace(" as half", " as half, movies"),
            "movies (BIGINT) is missing in the contract",
        ),
        (
            model.replace("total as n", "case when total > 0 then null else total end as n"),
            "NOT NULL",
        ),
    ];
    for (i, (sql, said)) in breaches.iter().enumerate() {
        write("models/reporting/genre_contract.sql", sql);
        let batch = format!("c{}", i + 2);
        f.generated_batch(&batch, 200, 9 + i as u64);
        let o = f.run_project(&batch, &project, &[], &[]);
        assert_ne!(o.code, 0, "{}", o.stderr);
        assert_eq!(o.summary["published"], false);
        let cause = o.summary["error"]["cause"].as_str().unwrap_or_default().to_string();
        assert!(
            cause.contains("model genre_contract") && cause.contains(said),
            "{cause}"
        );
        assert_eq!(f.marts_snapshot(), published, "the published marts are untouched");
        let out = dbt_over_copy(
            &dbt(),
            &f,
            &project,
            &copy,
            &[
                "run",
                "--select",
                "+genre_contract",
                "--vars",
                &format!("{{batch: {batch}}}"),
            ],
        );
        assert!(!out.status.success(), "dbt fails on {said} too");
    }

    write("models/reporting/genre_contract.sql", model);
    write(
        "models/reporting/_contract.yml",
        &yml.replace("        data_type: double\n", ""),
    );
    let o = f.run_project("c1", &project, &[], &[]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    let said = format!("{}{}", o.stdout, o.stderr);
    assert!(
        said.contains("_contract.yml line 12") && said.contains("column half of model genre_contract has no data_type"),
        "{said}"
    );
}

/// Unit tests run in the gate, as dbt runs them: the model's SQL on rows given for a ref (dict
/// rows) and a source (csv rows), with a var overridden, compared with the expected rows
/// whatever their order. Passing, the run publishes and dbt passes too; an expected row the
/// model does not return fails the gate (nothing published) and fails dbt. A unit test that
/// leaves an input of the model without rows is refused at load.
#[test]
fn unit_tests_pass_and_fail_as_dbts() {
    let f = Fixture::new();
    let project = f.dir.path().join("project");
    copy_project(&project);
    let write = |rel: &str, text: &str| write_file(&project, rel, text);
    write(
        "models/reporting/title_people.sql",
        "select t.title_id, t.title_type, count(c.person_id) as people\n\
         from {{ ref('stg_titles') }} t\n\
         left join {{ source('raw', 'credits') }} c on trim(c.id) = t.title_id and c._batch = '{{ var(\"batch\") }}'\n\
         where t.release_year >= {{ var('min_year', 1900) }}\n\
         group by 1, 2\n",
    );
    let yml = "version: 2\nunit_tests:\n  - name: title_people_counts_the_batchs_credits\n    model: title_people\n\
        \x20   overrides:\n      vars: {min_year: 2010, batch: u}\n\
        \x20   given:\n\
        \x20     - input: ref('stg_titles')\n        rows:\n\
        \x20         - {title_id: t1, title_type: MOVIE, release_year: 2015}\n\
        \x20         - {title_id: t2, title_type: SHOW, release_year: 2005}\n\
        \x20         - {title_id: t3, title_type: SHOW, release_year: 2020}\n\
        \x20     - input: source('raw', 'credits')\n        format: csv\n        rows: |\n\
        \x20         id,person_id,_batch\n          t1,p1,u\n          t1,p2,u\n          t3,p3,other\n          t3,,u\n\
        \x20   expect:\n      rows:\n        - {title_id: t3, people: 0}\n        - {title_id: t1, people: 2}\n";
    write("models/reporting/_unit.yml", yml);
    f.generated_batch("u1", 300, 8);
    let o = f.run_project("u1", &project, &[], &[]);
    assert_ok(&o);
    assert_eq!(o.summary["tests"]["failed"], 0);
    let copy = f.dir.path().join("dbt.duckdb");
    let only_units = ["--select", "+title_people", "--exclude", "test_type:data"];
    let out = dbt_over_copy(
        &dbt(),
        &f,
        &project,
        &copy,
        &[&["build"][..], &only_units, &["--vars", "{batch: u1}"]].concat(),
    );
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && log.contains("PASS title_people::title_people_counts_the_batchs_credits"),
        "dbt passes the unit test:\n{log}"
    );
    let published = f.marts_snapshot();

    // One expected count wrong: landfall's gate fails on the unit test, dbt fails it too.
    write("models/reporting/_unit.yml", &yml.replace("people: 2}", "people: 3}"));
    f.generated_batch("u2", 200, 9);
    let o = f.run_project("u2", &project, &[], &[]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert_eq!(o.summary["published"], false);
    let failing = o.summary["failing_tests"].as_array().unwrap();
    assert_eq!(failing.len(), 1, "{failing:?}");
    assert_eq!(failing[0]["name"], "title_people_counts_the_batchs_credits");
    assert_eq!(
        failing[0]["failures"], 2,
        "t1 with 2 people returned, t1 with 3 expected: {failing:?}"
    );
    assert_eq!(f.marts_snapshot(), published, "the published marts are untouched");
    let out = dbt_over_copy(
        &dbt(),
        &f,
        &project,
        &copy,
        &[&["build"][..], &only_units, &["--vars", "{batch: u2}"]].concat(),
    );
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && log.contains("title_people_counts_the_batchs_credits") && log.contains("differs from"),
        "dbt fails the unit test:\n{log}"
    );

    write(
        "models/reporting/_unit.yml",
        &yml.replace(
            "      - input: source('raw', 'credits')",
            "      - input: source('raw', 'titles')",
        ),
    );
    let o = f.run_project("u2", &project, &[], &[]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    let said = format!("{}{}", o.stdout, o.stderr);
    assert!(
        said.contains("_unit.yml line 3: unit test title_people_counts_the_batchs_credits: source('raw', 'titles') is not an input of model title_people"),
        "{said}"
    );
}

/// Rendering that reads the warehouse, as dbt's: `run_query` (a pivot over the distinct
/// values), `{% call statement(…, fetch_result=True) %}` with `load_result`,
/// `adapter.get_columns_in_relation` (names and dbt's `data_type`) and `adapter.get_relation`
/// (found and not) run against the run's own build relations while `execute` is true, and
/// not at all while parsing; a macro and a pre_hook ask too. The model builds the same rows
/// and column types as dbt-duckdb's. A failing query fails both, landfall naming the model and
/// the statement, nothing published; a `ref` called only when building, without dbt's
/// `-- depends_on:` hint, fails both as dbt fails it.
#[test]
fn rendering_reads_the_run_s_warehouse_as_in_dbt() {
    let f = Fixture::new();
    let project = f.dir.path().join("project");
    copy_project(&project);
    let write = |rel: &str, text: &str| write_file(&project, rel, text);
    write(
        "macros/introspect.sql",
        "{% macro column_list(relation) -%}\n\
         {%- for c in adapter.get_columns_in_relation(relation) %}{{ c.name }} {{ c.data_type }}{% if not loop.last %}, {% endif %}{% endfor -%}\n\
         {%- endmacro %}\n",
    );
    let model = "-- depends_on: {{ ref('stg_titles') }}\n\
        {{ config(pre_hook=\"{% do run_query('select count(*) from ' ~ ref('stg_titles')) %}\") }}\n\
        {% set kinds = [] %}\n\
        {% if execute %}\n\
        {% set kinds = run_query(\"select distinct title_type from \" ~ ref('stg_titles') ~ \" order by 1\").columns[0].values() %}\n\
        {% call statement('latest', fetch_result=True) %}\n  select max(release_year) as latest, count(*) as n from {{ ref('stg_titles') }}\n{% endcall %}\n\
        {% set latest = load_result('latest')['data'][0][0] %}\n\
        {% set stg = ref('stg_titles') %}\n\
        {% set found = adapter.get_relation(database=stg.database, schema=stg.schema, identifier=stg.identifier) %}\n\
        {% set missing = adapter.get_relation(database=stg.database, schema=stg.schema, identifier='no_such_model') %}\n\
        {% endif %}\n\
        select\n\
        {% for k in kinds %}  count(*) filter (where title_type = '{{ k }}') as n_{{ k | lower }},\n{% endfor %}\
        \x20 {{ latest if execute else 0 }} as latest_at_render,\n\
        \x20 '{{ column_list(ref('stg_titles')) }}' as stg_columns,\n\
        \x20 {{ 'true' if found else 'false' }} as stg_found,\n\
        \x20 {{ 'true' if missing else 'false' }} as missing_found\n\
        from {{ ref('stg_titles') }}\n";
    write("models/reporting/by_type.sql", model);
    f.generated_batch("q1", 150, 8);
    let o = f.run_project("q1", &project, &["--keep-build"], &[]);
    assert_ok(&o);
    let copy = f.dir.path().join("dbt.duckdb");
    dbt_ok(
        &f,
        &project,
        &copy,
        &["run", "--select", "+by_type", "--vars", "{batch: q1}"],
    );
    let types = built_as_dbt_built(&f, &copy, "by_type");
    let ours = f.query("select * from build_main.by_type");
    let names: Vec<&str> = types.rows.iter().map(|r| r[0].as_str().unwrap()).collect();
    assert!(
        names.starts_with(&["n_movie", "n_show"]),
        "one column per distinct title_type: {names:?}"
    );
    let at = |name: &str| &ours.rows[0][names.iter().position(|n| *n == name).unwrap()];
    assert!(at("latest_at_render").as_i64().unwrap() > 1900, "{ours:?}");
    assert!(
        at("stg_columns")
            .as_str()
            .unwrap()
            .contains("title_id character varying(256)"),
        "{ours:?}"
    );
    assert_eq!((at("stg_found"), at("missing_found")), (&true.into(), &false.into()));
    let published = f.marts_snapshot();

    // A query that fails: both fail the model; landfall names it and the statement.
    write(
        "models/reporting/by_type.sql",
        &model.replace("select distinct title_type from", "select distinct no_such_column from"),
    );
    f.generated_batch("q2", 100, 9);
    let o = f.run_project("q2", &project, &[], &[]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert_eq!(o.summary["published"], false);
    let said = format!("{}{}", o.stdout, o.stderr);
    assert!(
        said.contains("model by_type")
            && said.contains("rendering asked the statement `select distinct no_such_column"),
        "{said}"
    );
    assert_eq!(f.marts_snapshot(), published, "the published marts are untouched");
    dbt_fails_saying(
        &f,
        &project,
        &copy,
        &["run", "--select", "+by_type", "--vars", "{batch: q2}"],
        "no_such_column",
    );

    // The ref only a build sees, without the hint: the parse could not order the build by it.
    write(
        "models/reporting/by_type.sql",
        &model.replace("-- depends_on: {{ ref('stg_titles') }}\n", "").replace(
            "from {{ ref('stg_titles') }}\n",
            "from {{ ref('stg_titles') }}\n{% if execute %}where title_id in (select title_id from {{ ref('int_title_genres') }}){% endif %}\n",
        ),
    );
    let o = f.run_project("q2", &project, &[], &[]);
    assert_ne!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.summary["published"], false);
    let said = format!("{}{}", o.stdout, o.stderr);
    assert!(
        said.contains("calls ref('int_title_genres') only when it builds")
            && said.contains("-- depends_on: {{ ref('int_title_genres') }}"),
        "{said}"
    );
    dbt_fails_saying(
        &f,
        &project,
        &copy,
        &["run", "--select", "+by_type", "--vars", "{batch: q2}"],
        "depends_on",
    );
}

/// Seeds, as dbt loads them: `seeds/*.csv` typed as dbt's agate types them (integer,
/// number, date, timestamp, boolean, text; `null` kept in a text column), `+column_types` from
/// dbt_project.yml, quoted values with the delimiter, `ref()` to the seed from a model; the
/// seed and the model get dbt-duckdb's rows and column types. A seed's schema-file test that
/// fails fails the gate (nothing published) and fails dbt's `build`. A value dbt types a
/// number but cannot load (`1,000`) is refused at load naming the file, line and column; dbt
/// fails to load it.
#[test]
fn seeds_load_typed_as_dbt_loads_them() {
    let f = Fixture::new();
    let project = f.dir.path().join("project");
    copy_project(&project);
    let write = |rel: &str, text: &str| write_file(&project, rel, text);
    let seed = "kind,label,weight,rank,since,checked_at,active,note\n\
        MOVIE,\"Film, feature\",0.5,1,2020-01-02,2020-01-02 03:04:05,true,null\n\
        SHOW,Series,1.25,2,2021-2-3,2021-02-03 04:05:06,FALSE,\n\
        SPECIAL,Other,2,3,2022-03-04,2022-03-04 05:06:07,,kept\n";
    write("seeds/title_kinds.csv", seed);
    let yml = std::fs::read_to_string(project.join("dbt_project.yml")).unwrap();
    write(
        "dbt_project.yml",
        &format!("{yml}\nseeds:\n  landfall:\n    +column_types:\n      weight: decimal(6,2)\n"),
    );
    write(
        "seeds/_seeds.yml",
        "version: 2\nseeds:\n  - name: title_kinds\n    columns:\n      - name: kind\n        data_tests: [unique, not_null]\n",
    );
    write(
        "models/reporting/kinds_joined.sql",
        "select t.title_type, k.label, k.weight, k.rank, k.since, k.active, count(*) as titles\n\
         from {{ ref('stg_titles') }} t\njoin {{ ref('title_kinds') }} k on k.kind = t.title_type\ngroup by all\n",
    );
    f.generated_batch("s1", 150, 8);
    let o = f.run_project("s1", &project, &["--keep-build"], &[]);
    assert_ok(&o);
    let copy = f.dir.path().join("dbt.duckdb");
    dbt_ok(
        &f,
        &project,
        &copy,
        &[
            "build",
            "--select",
            "+kinds_joined",
            "--exclude",
            "test_type:data",
            "--vars",
            "{batch: s1}",
        ],
    );
    let types = built_as_dbt_built(&f, &copy, "title_kinds");
    let typed: Vec<(&str, &str)> = types
        .rows
        .iter()
        .map(|r| (r[0].as_str().unwrap(), r[1].as_str().unwrap()))
        .collect();
    assert_eq!(
        typed,
        [
            ("kind", "VARCHAR"),
            ("label", "VARCHAR"),
            ("weight", "DECIMAL(6,2)"),
            ("rank", "INTEGER"),
            ("since", "DATE"),
            ("checked_at", "TIMESTAMP"),
            ("active", "BOOLEAN"),
            ("note", "VARCHAR")
        ]
    );
    built_as_dbt_built(&f, &copy, "kinds_joined");
    let published = f.marts_snapshot();

    // A seed test that fails: the gate fails, nothing is published; dbt's build fails it.
    write(
        "seeds/title_kinds.csv",
        &format!("{seed}MOVIE,Again,3,4,2023-01-01,2023-01-01 00:00:00,true,\n"),
    );
    f.generated_batch("s2", 100, 9);
    let o = f.run_project("s2", &project, &[], &[]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert_eq!(o.summary["published"], false);
    let failing = failing_test_names(&o);
    assert_eq!(failing, ["unique_title_kinds_kind"], "{}", o.stdout);
    assert_eq!(f.marts_snapshot(), published, "the published marts are untouched");
    dbt_fails_saying(
        &f,
        &project,
        &copy,
        &["build", "--select", "title_kinds", "--vars", "{batch: s2}"],
        "FAIL 1 unique_title_kinds_kind",
    );

    // A number dbt's tester takes and dbt-duckdb cannot load: refused at load.
    write(
        "seeds/title_kinds.csv",
        &seed.replace(",1,2020-01-02", ",\"1,000\",2020-01-02"),
    );
    let o = f.run_project("s2", &project, &[], &[]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    let said = format!("{}{}", o.stdout, o.stderr);
    assert!(
        said.contains("seeds/title_kinds.csv line 2, column rank: '1,000' is a number written")
            && said.contains("column_types"),
        "{said}"
    );
    let out = dbt_over_copy(&dbt(), &f, &project, &copy, &["seed", "--vars", "{batch: s2}"]);
    assert!(!out.status.success(), "dbt cannot load it either");
}

/// Unit tests with fixture files (`fixture:` in `tests/fixtures/`, csv for a given input and
/// for expect) and with `input: this` (an incremental model's rows before the run, with
/// `is_incremental` overridden) pass in landfall's gate and in `dbt build`; a fixture file
/// holding a wrong expected row fails both. A fixture file is not a singular test. A unit test
/// of an incremental model that does not say which branch it tests is refused, as dbt refuses
/// it.
#[test]
fn unit_test_fixture_files_and_this_work_as_in_dbt() {
    let f = Fixture::new();
    let project = f.dir.path().join("project");
    copy_project(&project);
    let write = |rel: &str, text: &str| write_file(&project, rel, text);
    write(
        "models/reporting/type_counts.sql",
        "{{ config(materialized='incremental', unique_key='title_type') }}\n\
         select title_type, count(*) as titles from {{ ref('stg_titles') }}\n\
         {% if is_incremental() %}where title_type not in (select title_type from {{ this }}){% endif %}\n\
         group by 1\n",
    );
    write(
        "tests/fixtures/few_titles.csv",
        "title_id,title_type\nt1,MOVIE\nt2,SHOW\nt3,SHOW\n",
    );
    write("tests/fixtures/few_counts.csv", "title_type,titles\nMOVIE,1\nSHOW,2\n");
    write(
        "models/reporting/_type_counts.yml",
        "version: 2\nunit_tests:\n\
         \x20 - name: type_counts_from_fixture_files\n    model: type_counts\n\
         \x20   overrides:\n      macros: {is_incremental: false}\n\
         \x20   given:\n      - input: ref('stg_titles')\n        format: csv\n        fixture: few_titles\n\
         \x20   expect:\n      format: csv\n      fixture: few_counts\n\
         \x20 - name: type_counts_adds_only_new_types\n    model: type_counts\n\
         \x20   overrides:\n      macros: {is_incremental: true}\n\
         \x20   given:\n      - input: ref('stg_titles')\n        format: csv\n        fixture: few_titles\n\
         \x20     - input: this\n        rows:\n          - {title_type: MOVIE, titles: 9}\n\
         \x20   expect:\n      rows:\n        - {title_type: SHOW, titles: 2}\n",
    );
    f.generated_batch("f1", 120, 8);
    let o = f.run_project("f1", &project, &[], &[]);
    assert_ok(&o);
    assert_eq!(o.summary["tests"]["failed"], 0, "{}", o.stdout);
    let copy = f.dir.path().join("dbt.duckdb");
    // dbt reads `this`'s column types from the built model, so it must exist first.
    dbt_ok(
        &f,
        &project,
        &copy,
        &["run", "--select", "+type_counts", "--vars", "{batch: f1}"],
    );
    let args = [
        "build",
        "--select",
        "+type_counts",
        "--exclude",
        "test_type:data",
        "--vars",
        "{batch: f1}",
    ];
    let out = dbt_on(&dbt(), &f, &project, &copy, &args);
    let log = String::from_utf8_lossy(&out.stdout);
    for t in ["type_counts_from_fixture_files", "type_counts_adds_only_new_types"] {
        assert!(
            out.status.success() && log.contains(&format!("PASS type_counts::{t}")),
            "dbt passes {t}:\n{log}"
        );
    }
    let published = f.marts_snapshot();

    write("tests/fixtures/few_counts.csv", "title_type,titles\nMOVIE,1\nSHOW,3\n");
    f.generated_batch("f2", 100, 9);
    let o = f.run_project("f2", &project, &[], &[]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    let failing = failing_test_names(&o);
    assert_eq!(failing, ["type_counts_from_fixture_files"], "{}", o.stdout);
    assert_eq!(f.marts_snapshot(), published, "the published marts are untouched");
    let out = dbt_on(&dbt(), &f, &project, &copy, &args);
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && log.contains("type_counts_from_fixture_files") && log.contains("differs from"),
        "dbt fails it too:\n{log}"
    );

    let yml = std::fs::read_to_string(project.join("models/reporting/_type_counts.yml")).unwrap();
    write(
        "models/reporting/_type_counts.yml",
        &yml.replacen("    overrides:\n      macros: {is_incremental: false}\n", "", 1),
    );
    let o = f.run_project("f2", &project, &[], &[]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    let said = format!("{}{}", o.stdout, o.stderr);
    assert!(
        said.contains(
            "_type_counts.yml line 3: unit test type_counts_from_fixture_files: model type_counts is incremental"
        ),
        "{said}"
    );
    let out = dbt_on(&dbt(), &f, &project, &copy, &args);
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && log.contains("Boolean override for 'is_incremental' must be provided"),
        "dbt refuses it too:\n{log}"
    );
}

/// Packages as dbt uses them: a `local:` package, read where packages.yml points (before
/// `dbt deps`) and where `dbt deps` links it (dbt_packages/), its macros called by namespace
/// and through `adapter.dispatch` (calling each other by namespace, and dbt's cross-database
/// macros), the project's `dispatch:` search order putting its own macro first, the package's
/// generic test (in its tests/generic) by its namespaced name. The model builds the same rows
/// and column types as dbt-duckdb's; the package's test failing fails both, nothing
/// published. What dbt cannot compile is refused at load: the test by its bare name, a call to
/// a macro of the package's other file by its bare name.
#[test]
fn packages_work_as_in_dbt() {
    let f = Fixture::new();
    let project = f.dir.path().join("project");
    copy_project(&project);
    let write = |rel: &str, text: &str| write_file(&project, rel, text);
    write("packages.yml", "packages:\n  - local: libs/money\n");
    write(
        "libs/money/dbt_project.yml",
        "name: money\nversion: '1.0.0'\nconfig-version: 2\n",
    );
    write(
        "libs/money/macros/cents.sql",
        "{% macro cents(col) %}{{ return(adapter.dispatch('cents', 'money')(col)) }}{% endmacro %}\n\
         {% macro default__cents(col) %}round({{ col }} * {{ money.factor() }}){% endmacro %}\n\
         {% macro duckdb__cents(col) %}cast(round({{ col }} * {{ money.factor() }}) as integer){% endmacro %}\n\
         {% macro label(col) %}{{ dbt.concat([\"'kind:'\", col]) }}{% endmacro %}\n",
    );
    write(
        "libs/money/macros/factor.sql",
        "{% macro factor() %}100{% endmacro %}\n",
    );
    write(
        "libs/money/tests/generic/at_least.sql",
        "{% test at_least(model, column_name, floor) %}\nselect * from {{ model }} where {{ column_name }} < {{ floor }}\n{% endtest %}\n",
    );
    write(
        "models/reporting/scored.sql",
        "select title_id, {{ money.cents('imdb_score') }} as score_cents, {{ money.label('title_type') }} as kind\n\
         from {{ ref('stg_titles') }}\nwhere imdb_score is not null\n",
    );
    let yml = "version: 2\nmodels:\n  - name: scored\n    columns:\n      - name: score_cents\n        data_tests:\n\
        \x20         - money.at_least: {arguments: {floor: 0}}\n";
    write("models/reporting/_scored.yml", yml);
    f.generated_batch("p1", 200, 8);
    let o = f.run_project("p1", &project, &["--keep-build"], &[]);
    assert_ok(&o);
    assert_eq!(o.summary["tests"]["failed"], 0);
    let copy = f.dir.path().join("dbt.duckdb");
    dbt_deps(&f, &project);
    assert!(project.join("dbt_packages/money/dbt_project.yml").is_file());
    // Only the tests whose every parent is selected (stg_credits' relationship to stg_titles
    // is not built here).
    let select = [
        "--select",
        "+scored",
        "--indirect-selection",
        "cautious",
        "--vars",
        "{batch: p1}",
    ];
    dbt_ok(&f, &project, &copy, &[&["build"][..], &select].concat());
    let types = built_as_dbt_built(&f, &copy, "scored");
    assert_eq!(types.rows[1][1], "INTEGER", "duckdb__cents was chosen: {types:?}");

    let refused = |rel: &str, text: &str, ours: &str, dbts: &str| {
        let before = std::fs::read_to_string(project.join(rel)).unwrap();
        write(rel, text);
        let o = f.run_project("p1", &project, &[], &[]);
        assert_eq!(o.code, 2, "{}", o.stderr);
        assert!(o.stdout.contains(ours), "{}", o.stdout);
        // dbt reads the package where `dbt deps` linked it.
        dbt_fails_saying(
            &f,
            &project,
            &copy,
            &["compile", "--select", "scored", "--vars", "{batch: p1}"],
            dbts,
        );
        write(rel, &before);
    };
    refused(
        "models/reporting/_scored.yml",
        &yml.replace("money.at_least", "at_least"),
        "generic test at_least is package money's: name it money.at_least",
        "'test_at_least' is undefined",
    );
    refused(
        "libs/money/macros/cents.sql",
        &std::fs::read_to_string(project.join("libs/money/macros/cents.sql"))
            .unwrap()
            .replace("money.factor()", "factor()"),
        "libs/money/macros/cents.sql line 2: factor() is a macro of package money in libs/money/macros/factor.sql",
        "'factor' is undefined",
    );

    // The project's own default__cents, first in its dispatch search order, over the package's.
    let project_yml = std::fs::read_to_string(project.join("dbt_project.yml")).unwrap();
    write(
        "dbt_project.yml",
        &format!("{project_yml}\ndispatch:\n  - macro_namespace: money\n    search_order: ['landfall', 'money']\n"),
    );
    write(
        "macros/cents.sql",
        "{% macro default__cents(col) %}floor({{ col }} * 10){% endmacro %}\n",
    );
    let o = f.run_project("p1", &project, &["--keep-build"], &[]);
    assert_ok(&o);
    dbt_ok(&f, &project, &copy, &[&["build"][..], &select].concat());
    let types = built_as_dbt_built(&f, &copy, "scored");
    assert_eq!(
        types.rows[1][1], "DOUBLE",
        "the project's default__cents was chosen: {types:?}"
    );
    let published = f.marts_snapshot();

    // The package's test fails: landfall's gate and dbt alike, nothing published.
    write(
        "models/reporting/_scored.yml",
        &yml.replace("floor: 0}", "floor: 100000}"),
    );
    f.generated_batch("p2", 150, 9);
    let o = f.run_project("p2", &project, &[], &[]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert_eq!(o.summary["published"], false);
    let failing = failing_test_names(&o);
    assert!(
        failing.len() == 1 && failing[0].starts_with("money_at_least_scored_score_cents"),
        "{failing:?}"
    );
    assert_eq!(f.marts_snapshot(), published, "the published marts are untouched");
    dbt_fails_saying(
        &f,
        &project,
        &copy,
        &[
            "build",
            "--select",
            "+scored",
            "--indirect-selection",
            "cautious",
            "--vars",
            "{batch: p2}",
        ],
        "money_at_least_scored_score_cents__100000",
    );
}

/// `modules.re` as Python's `re` in dbt: `match` with a named group and its position,
/// `search` with a flag, `sub` with Python's backreferences, `split`, `findall`, `escape`, a
/// compiled pattern, in a model and in a macro. The model builds the same rows and column types
/// as dbt-duckdb's. `modules.datetime` is refused at load, naming the file and line.
#[test]
fn modules_re_works_as_in_dbt() {
    let f = Fixture::new();
    let project = f.dir.path().join("project");
    copy_project(&project);
    let write = |rel: &str, text: &str| write_file(&project, rel, text);
    write(
        "macros/entity.sql",
        r#"{% macro entity_of(model_name) %}{% set p = modules.re.compile('^(stg|int)_(?P<entity>[a-z_]+)$') %}{{ return(p.match(model_name).group('entity')) }}{% endmacro %}
"#,
    );
    write(
        "models/reporting/regexed.sql",
        r#"{% set m = modules.re.match('^stg_(?P<entity>[a-z]+)$', 'stg_titles') %}
select title_id,
  '{{ m.group("entity") }}' as entity,
  {{ m.start('entity') }} as entity_at,
  '{{ entity_of("int_title_genres") }}' as from_macro,
  '{{ modules.re.sub("(\\w+)_(\\w+)", "\\2_\\1", "title_type") }}' as swapped,
  {{ modules.re.split('[-/]', '2026-12/04') | length }} as n_parts,
  '{{ modules.re.findall("[0-9]+", "a1b22c333") | join(",") }}' as nums,
  '{{ modules.re.escape("a.b") }}' as escaped,
  {% if modules.re.search('^tt', 'TT123', modules.re.I) %}1{% else %}0{% endif %} as found
from {{ ref('stg_titles') }}
"#,
    );
    f.generated_batch("r1", 120, 8);
    let o = f.run_project("r1", &project, &["--keep-build"], &[]);
    assert_ok(&o);
    let copy = f.dir.path().join("dbt.duckdb");
    dbt_ok(
        &f,
        &project,
        &copy,
        &["run", "--select", "+regexed", "--vars", "{batch: r1}"],
    );
    built_as_dbt_built(&f, &copy, "regexed");
    let row = f.query(
        "select entity, entity_at, from_macro, swapped, n_parts, nums, escaped, found from build_main.regexed limit 1",
    );
    assert_eq!(
        serde_json::to_value(&row.rows[0]).unwrap(),
        serde_json::json!(["titles", 4, "title_genres", "type_title", 3, "1,22,333", "a\\.b", 1])
    );

    write(
        "models/reporting/regexed.sql",
        "select '{{ modules.datetime.date.today() }}' as today\n",
    );
    let o = f.run_project("r1", &project, &[], &[]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stdout
            .contains("models/reporting/regexed.sql line 1: `modules.datetime` is not supported"),
        "{}",
        o.stdout
    );
}

/// Snapshots as dbt keeps them, over three batches landing one after another: a `timestamp`
/// snapshot (every row of a later batch is newer: its current version closed at the new
/// `updated_at`, a new one inserted) and a `check` one on two columns (an unchanged batch adds
/// nothing; a changed row gets a new version, a vanished one stays current) and a `timestamp`
/// one with `hard_deletes='invalidate'` (a vanished row is closed), all in one file
/// configured by `snapshots:` in dbt_project.yml and `config()`. After each batch landfall's
/// snapshots hold dbt-duckdb's rows (the `check` one's times aside, which are the moment each
/// ran) and column types. Tests from a property file beside the snapshots run in the gate:
/// its keys are not unique once a key has two versions, for landfall and dbt alike. A
/// snapshot without a `unique_key` fails both at load.
#[test]
fn snapshots_keep_history_as_dbt_keeps_it() {
    let f = Fixture::new();
    let project = f.dir.path().join("project");
    copy_project(&project);
    let write = |rel: &str, text: &str| write_file(&project, rel, text);
    let project_yml = std::fs::read_to_string(project.join("dbt_project.yml")).unwrap();
    write(
        "dbt_project.yml",
        &format!("{project_yml}\nsnapshots:\n  landfall:\n    +target_schema: snapshots\n"),
    );
    let query = "select trim(id) as title_id, trim(title) as title, runtime, cast('{{ var(\"batch\") }}' as timestamp) as updated_at\n\
                 from {{ source('raw', 'titles') }}\n\
                 where _batch = '{{ var(\"batch\") }}' and trim(id) <> ''\n\
                 qualify row_number() over (partition by trim(id) order by _row_number) = 1\n";
    let snapshots = format!(
        "{{% snapshot titles_history %}}\n{{{{ config(unique_key='title_id', strategy='timestamp', updated_at='updated_at') }}}}\n{query}{{% endsnapshot %}}\n\n\
         {{% snapshot titles_checked %}}\n{{{{ config(unique_key='title_id', strategy='check', check_cols=['title', 'runtime']) }}}}\n{query}{{% endsnapshot %}}\n\
         {{% snapshot titles_invalidated %}}\n{{{{ config(unique_key='title_id', strategy='timestamp', updated_at='updated_at', hard_deletes='invalidate') }}}}\n{query}{{% endsnapshot %}}\n"
    );
    write("snapshots/titles.sql", &snapshots);
    let rows = |db: &std::path::Path, schema: &str| {
        let q = |sql: String| query_file(db, &sql);
        (
            q(format!("select * from {schema}.titles_history order by all")),
            q(format!(
                "select title_id, title, runtime, dbt_valid_to is null as current from {schema}.titles_checked order by all"
            )),
            q(format!(
                "select title_id, title, dbt_valid_from, dbt_valid_to is null as current from {schema}.titles_invalidated order by all"
            )),
            q(format!(
                "select table_name, column_name, data_type from information_schema.columns where table_schema = '{schema}' order by table_name, ordinal_position"
            )),
        )
    };
    // dbt on landfall's own warehouse: its snapshots go to `snapshots`, landfall's to
    // `build_snapshots`, the raw batch is the one landfall loaded.
    let dbt_snapshot = |batch: &str| {
        let out = dbt_on(
            &dbt(),
            &f,
            &project,
            &f.warehouse(),
            &["snapshot", "--vars", &format!("{{batch: '{batch}'}}")],
        );
        assert!(
            out.status.success(),
            "dbt snapshot {batch}:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    };
    let same_as_dbt = |batch: &str, columns: usize| {
        let (ours, theirs) = (
            rows(&f.warehouse(), "build_snapshots"),
            rows(&f.warehouse(), "snapshots"),
        );
        assert_eq!(ours.0, theirs.0, "{batch}: the timestamp snapshot");
        assert_eq!(ours.1, theirs.1, "{batch}: the check snapshot");
        assert_eq!(ours.2, theirs.2, "{batch}: the snapshot that invalidates hard deletes");
        assert_eq!(ours.3.rows.len(), columns, "{:?}", ours.3);
        assert_eq!(ours.3, theirs.3, "{batch}: column types");
    };
    // The same titles twice, then others (another seed).
    for (batch, seed) in [("2026-01-01", 8), ("2026-01-02", 8), ("2026-01-03", 9)] {
        f.generated_batch(batch, 120, seed);
        let o = f.run_project(batch, &project, &[], &[]);
        assert_ok(&o);
        dbt_snapshot(batch);
        same_as_dbt(batch, 24);
    }
    let history =
        f.query("select count(*), count(*) filter (where dbt_valid_to is null) from build_snapshots.titles_history");
    let checked =
        f.query("select count(*), count(*) filter (where dbt_valid_to is null) from build_snapshots.titles_checked");
    assert!(
        history.rows[0][0].as_i64() > history.rows[0][1].as_i64(),
        "versions were closed: {history:?}"
    );
    assert!(
        checked.rows[0][0].as_i64() < history.rows[0][0].as_i64(),
        "the unchanged batch added no version to the check snapshot: {checked:?} {history:?}"
    );
    assert!(
        checked.rows[0][0].as_i64() > checked.rows[0][1].as_i64(),
        "the third batch changed titles it shares with the first: {checked:?}"
    );
    // The titles the third batch no longer has: current in the history, closed where hard
    // deletes are invalidated.
    let gone = |t: &str| {
        f.query(&format!(
            "select count(*) from build_snapshots.{t} s where dbt_valid_to is null and not exists (select 1 from build_snapshots.titles_history h where h.title_id = s.title_id and h.updated_at = timestamp '2026-01-03')"
        ))
        .rows[0][0]
            .as_i64()
            .unwrap()
    };
    assert!(gone("titles_history") > 0 && gone("titles_invalidated") == 0);

    // Tests on a snapshot, from a property file beside it: its scd ids are unique, its keys
    // are not (a key has a version per batch): the gate fails, as dbt's test does.
    write(
        "snapshots/_snapshots.yml",
        "version: 2\nsnapshots:\n  - name: titles_history\n    columns:\n      - name: dbt_scd_id\n        data_tests: [unique, not_null]\n      - name: title_id\n        data_tests: [unique]\n",
    );
    f.generated_batch("2026-01-04", 120, 9);
    let o = f.run_project("2026-01-04", &project, &[], &[]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert_eq!(failing_test_names(&o), ["unique_titles_history_title_id"]);
    dbt_snapshot("2026-01-04");
    dbt_fails_saying(
        &f,
        &project,
        &f.dir.path().join("dbt.duckdb"),
        &["test", "--select", "titles_history", "--vars", "{batch: '2026-01-04'}"],
        "FAIL",
    );
    std::fs::remove_file(project.join("snapshots/_snapshots.yml")).unwrap();

    // The query gains a column: each snapshot gets it (older rows null), as dbt adds it.
    write(
        "snapshots/titles.sql",
        &snapshots.replace("runtime, cast(", "runtime, release_year, cast("),
    );
    f.generated_batch("2026-01-05", 120, 9);
    assert_ok(&f.run_project("2026-01-05", &project, &[], &[]));
    dbt_snapshot("2026-01-05");
    same_as_dbt("2026-01-05", 27);

    write(
        "snapshots/titles.sql",
        &snapshots.replacen("unique_key='title_id', ", "", 1),
    );
    let o = f.run_project("2026-01-03", &project, &[], &[]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stdout
            .contains("snapshots/titles.sql (snapshot titles_history): a snapshot needs a unique_key"),
        "{}",
        o.stdout
    );
    let copy = f.dir.path().join("dbt.duckdb");
    dbt_fails_saying(
        &f,
        &project,
        &copy,
        &["snapshot", "--vars", "{batch: '2026-01-03'}"],
        "unique_key",
    );
}

/// Model versions as dbt has them: `scores` in two versions, v1 in `scores_v1.sql` and the
/// latest, v2, in `scores.sql` (where dbt finds it), each built as `scores_v<v>`;
/// `ref('scores')` is the latest, `ref('scores', v=1)` and `version=1` the first; each version
/// has the model's columns but those it excludes, and the tests on them (`generation`'s only
/// on v1). Every relation has dbt-duckdb's rows and types; a test on v1 failing fails both
/// under the version's name. A ref to a version that does not exist fails both.
#[test]
fn model_versions_build_and_resolve_as_in_dbt() {
    let f = Fixture::new();
    let project = f.dir.path().join("project");
    copy_project(&project);
    let write = |rel: &str, text: &str| write_file(&project, rel, text);
    write(
        "models/reporting/scores_v1.sql",
        "select title_id, imdb_score, 'v1' as generation from {{ ref('stg_titles') }}\n",
    );
    write(
        "models/reporting/scores.sql",
        "select title_id, imdb_score, tmdb_score from {{ ref('stg_titles') }}\n",
    );
    let users = "select 'latest' as which, count(*) as n, max(tmdb_score) as top from {{ ref('scores') }}\n\
                 union all select 'v1', count(*), null from {{ ref('scores', v=1) }}\n\
                 union all select 'v1 again', count(*), null from {{ ref('scores', version=1) }}\n";
    write("models/reporting/score_users.sql", users);
    let yml = "version: 2\nmodels:\n  - name: scores\n    latest_version: 2\n    columns:\n\
        \x20     - name: title_id\n        data_tests: [not_null, unique]\n\
        \x20     - name: imdb_score\n\
        \x20     - name: generation\n        data_tests: [{accepted_values: {arguments: {values: ['v1']}}}]\n\
        \x20     - name: tmdb_score\n\
        \x20   versions:\n\
        \x20     - v: 2\n        columns:\n          - include: all\n            exclude: [generation]\n\
        \x20     - v: 1\n        columns:\n          - include: all\n            exclude: [tmdb_score]\n";
    write("models/reporting/_scores.yml", yml);
    f.generated_batch("v1", 150, 8);
    let o = f.run_project("v1", &project, &["--keep-build"], &[]);
    assert_ok(&o);
    let copy = f.dir.path().join("dbt.duckdb");
    dbt_ok(
        &f,
        &project,
        &copy,
        &[
            "build",
            "--select",
            "+score_users",
            "--indirect-selection",
            "cautious",
            "--vars",
            "{batch: v1}",
        ],
    );
    for m in ["scores_v1", "scores_v2", "score_users"] {
        built_as_dbt_built(&f, &copy, m);
    }
    let users = f.query("select which, n from build_main.score_users order by which");
    assert_eq!(users.rows.len(), 3);
    assert!(users.rows.iter().all(|r| r[1] == users.rows[0][1]), "{users:?}");

    // generation's test is v1's only: failing, it fails as v1's, for landfall and dbt.
    write(
        "models/reporting/_scores.yml",
        &yml.replace("values: ['v1']", "values: ['v0']"),
    );
    f.generated_batch("v2", 120, 9);
    let o = f.run_project("v2", &project, &[], &[]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert_eq!(failing_test_names(&o), ["accepted_values_scores_v1_generation__v0"]);
    dbt_fails_saying(
        &f,
        &project,
        &copy,
        &[
            "build",
            "--select",
            "+score_users",
            "--indirect-selection",
            "cautious",
            "--vars",
            "{batch: v2}",
        ],
        "accepted_values_scores_v1_generation__v0",
    );

    write("models/reporting/_scores.yml", yml);
    write(
        "models/reporting/score_users.sql",
        "select * from {{ ref('scores', v=3) }}\n",
    );
    let o = f.run_project("v2", &project, &[], &[]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stdout.contains("ref('scores', v=3): model scores has versions 2, 1"),
        "{}",
        o.stdout
    );
    dbt_fails_saying(
        &f,
        &project,
        &copy,
        &["compile", "--select", "score_users", "--vars", "{batch: v2}"],
        "scores",
    );
}

/// `m` as landfall kept it (`--keep-build`) and as dbt built it over `copy`: the same rows and
/// column types (returned, name and type per column).
fn built_as_dbt_built(f: &Fixture, copy: &std::path::Path, m: &str) -> landfall_core::warehouse::Table {
    let ours = f.query(&format!("select * from build_main.{m} order by all"));
    assert!(!ours.rows.is_empty(), "{m}");
    let theirs = query_file(copy, &format!("select * from main.{m} order by all"));
    assert_eq!(ours, theirs, "{m}: landfall and dbt-duckdb built different rows");
    let types = |schema: &str| {
        format!(
            "select column_name, data_type from information_schema.columns where table_name = '{m}' and table_schema = '{schema}' order by ordinal_position"
        )
    };
    let our_types = f.query(&types("build_main"));
    assert_eq!(our_types, query_file(copy, &types("main")), "{m}: column types");
    our_types
}

/// Write `text` to `rel` under the project copy `project`, creating its folder.
fn write_file(project: &std::path::Path, rel: &str, text: &str) {
    let p = project.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}
