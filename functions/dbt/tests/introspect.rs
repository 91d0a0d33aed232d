//! Rendering that asks the warehouse (landfall_dbt::introspect): while parsing nothing is
//! asked (`run_query` is none, a statement's body is not rendered, `get_columns_in_relation`
//! is empty), as in dbt; when building, each question stops the render until the caller
//! answers it, in the template's order, and the answers render as dbt renders agate tables.

use landfall_dbt::introspect::{Answer, Answers, Ask, Column, Table};
use landfall_dbt::{Project, Relation, RenderScope, render};
use serde_json::json;
use std::sync::Arc;

const MODEL: &str = "\
{% set types = [] %}
{% if execute %}
{% set types = run_query(\"select distinct kind from \" ~ ref('base') ~ \" order by 1\").columns[0].values() %}
{% call statement('n', fetch_result=True) %}select count(*) from {{ ref('base') }}{% endcall %}
{% set cols = adapter.get_columns_in_relation(ref('base')) %}
{% set there = adapter.get_relation(database=none, schema='main', identifier='gone') %}
{% endif %}
select {% for t in types %}'{{ t }}' as k{{ loop.index }}, {% endfor %}{{ load_result('n')['data'][0][0] if execute else 0 }} as n,
'{% for c in cols %}{{ c.name }} {{ c.data_type }} {{ c.dtype }} {{ c.is_string() }};{% endfor %}' as cols, '{{ there }}' as there
from {{ ref('base') }}
";

fn project() -> (tempfile::TempDir, Project) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("dbt_project.yml"), "name: p\nversion: '1'\nprofile: p\n").unwrap();
    std::fs::create_dir_all(root.join("models")).unwrap();
    std::fs::write(root.join("models/base.sql"), "select 'a' as kind, 1 as n\n").unwrap();
    std::fs::write(root.join("models/asks.sql"), MODEL).unwrap();
    let p = Project::load(root).unwrap();
    (dir, p)
}

fn building(p: &Project, known: Vec<(Ask, Answer)>) -> RenderScope {
    let mut s = RenderScope::parsing(p);
    s.parsing = false;
    s.answers = Some(Arc::new(Answers::new(known)));
    s.models.insert("base".into(), Relation::new("build_main", "base"));
    s
}

fn table(columns: &[&str], rows: serde_json::Value) -> Answer {
    Answer::Table(Table {
        columns: columns.iter().map(|c| c.to_string()).collect(),
        rows: serde_json::from_value(rows).unwrap(),
    })
}

#[test]
fn the_parse_asks_nothing_and_a_build_asks_each_question_in_order() {
    let (_dir, p) = project();
    let m = p.models.iter().find(|m| m.name == "asks").unwrap();
    // The parse rendered it with nothing asked: its ref outside the `if` is known.
    assert_eq!(m.refs, ["base"]);

    let answers = [
        (
            Ask::Query("select distinct kind from build_main.base order by 1".into()),
            table(&["kind"], json!([["a"], ["b"]])),
        ),
        (
            Ask::Query("select count(*) from build_main.base".into()),
            table(&["count_star()"], json!([[7]])),
        ),
        (
            Ask::Columns(Relation::new("build_main", "base")),
            Answer::Columns(vec![
                Column::new("kind".into(), "VARCHAR".into(), "duckdb"),
                Column::new("n".into(), "INTEGER".into(), "duckdb"),
            ]),
        ),
        (Ask::Exists(Relation::new("main", "gone")), Answer::Exists(false)),
    ];
    // Each render stops at the first question it has no answer for.
    for i in 0..answers.len() {
        let scope = building(&p, answers[..i].to_vec());
        let e = render::render(&p, &m.raw_sql, &m.path, &scope).unwrap_err();
        assert_eq!(e.unanswered.as_deref(), Some(&answers[i].0), "{}", e.message);
        assert!(e.message.contains("waits for the warehouse"), "{}", e.message);
    }
    let (sql, called) = render::render(&p, &m.raw_sql, &m.path, &building(&p, answers.to_vec())).unwrap();
    let sql: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(
        sql,
        "select 'a' as k1, 'b' as k2, 7 as n, 'kind character varying(256) VARCHAR True;n INTEGER INTEGER False;' as cols, 'None' as there from build_main.base"
    );
    assert_eq!(called.refs, ["base"]);
}

#[test]
fn a_render_that_asks_something_else_than_before_fails() {
    let (_dir, p) = project();
    let m = p.models.iter().find(|m| m.name == "asks").unwrap();
    let scope = building(&p, vec![(Ask::Query("select 1".into()), table(&["x"], json!([[1]])))]);
    let e = render::render(&p, &m.raw_sql, &m.path, &scope).unwrap_err();
    assert!(e.unanswered.is_none());
    assert!(
        e.message.contains("must ask the same questions in the same order"),
        "{}",
        e.message
    );
}

#[test]
fn an_unsupported_adapter_method_is_refused_at_load() {
    let (dir, _) = project();
    std::fs::write(
        dir.path().join("models/asks.sql"),
        "select 1 as x\n{% do adapter.drop_relation(this) %}\n",
    )
    .unwrap();
    let e = Project::load(dir.path()).unwrap_err();
    assert!(e.message.contains("models/asks.sql line 2"), "{}", e.message);
    assert!(
        e.message.contains("`adapter.drop_relation` is not supported"),
        "{}",
        e.message
    );
    assert!(e.message.contains("get_columns_in_relation"), "{}", e.message);
}
