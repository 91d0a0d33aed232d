//! No dbt setting is silently ignored: every key dbt's own JSON schemas accept (dbt-core's
//! `jsonschemas/`, from the dbt that `make test` installs) in the places the engine reads —
//! dbt_project.yml, its `models:` configs, schema files, models, columns, sources, source
//! tables, data tests, and `config()` in a model — is put into a small project, and the load
//! either succeeds (the engine honours the key or knows it to be inert) or refuses it naming
//! the key, the file and the line (crate::keys).

use landfall_dbt::Project;
use landfall_dbt::keys::{Handling, Place, handling};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// dbt's JSON schemas, beside the dbt `make test` installs (`LANDFALL_DBT`, else the cache).
fn schemas() -> PathBuf {
    let dbt = std::env::var("LANDFALL_DBT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/landfall/venv-dbt/bin/dbt"));
    let lib = dbt.parent().and_then(Path::parent).map(|v| v.join("lib"));
    let found = lib
        .as_ref()
        .and_then(|l| std::fs::read_dir(l).ok())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("site-packages/dbt/jsonschemas"))
        .find(|p| p.is_dir());
    found.unwrap_or_else(|| {
        panic!(
            "dbt's jsonschemas not found beside {}: run `make test` (it creates the dbt virtualenv) or set LANDFALL_DBT",
            dbt.display()
        )
    })
}

fn properties(schema: &Value, definition: Option<&str>) -> Vec<String> {
    let node = match definition {
        Some(d) => &schema["definitions"][d],
        None => schema,
    };
    let keys: Vec<String> = node["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("{definition:?} has properties"))
        .keys()
        .cloned()
        .collect();
    assert!(!keys.is_empty(), "{definition:?}");
    keys
}

/// A value the key takes in a project that uses it as documented.
fn sample(key: &str) -> Value {
    match key.trim_start_matches('+') {
        "materialized" => json!("table"),
        "enabled" | "quote" | "store_failures" => match key {
            "enabled" => json!(true),
            _ => json!(false),
        },
        "tags" => json!(["t"]),
        "meta" => json!({"owner": "o"}),
        "unique_key" => json!("id"),
        "incremental_strategy" => json!("delete+insert"),
        "on_schema_change" => json!("ignore"),
        "contract" => json!({"enforced": false}),
        "docs" => json!({"show": true}),
        "persist_docs" => json!({"relation": true}),
        "access" => json!("protected"),
        "severity" => json!("warn"),
        "where" => json!("id > 0"),
        "warn_if" | "error_if" => json!(">10"),
        "fail_calc" => json!("count(*)"),
        "constraints" => json!([]),
        "on-run-start" => json!(["select 1"]),
        "seed-paths" => json!(["seeds"]),
        "snapshot-paths" => json!(["snapshots"]),
        "version" | "config-version" => json!(2),
        "dispatch" => json!([{"macro_namespace": "dbt", "search_order": ["walk", "dbt"]}]),
        "check_cols" => json!("all"),
        // The base model's one version, in its own file (m.sql, as dbt finds it).
        "versions" => json!([{"v": 1}]),
        "latest_version" => json!(1),
        _ => json!("x"),
    }
}

const BASE_SQL: &str = "select 1 as id\n";

/// The base project, with `edit` applied to its schema file or dbt_project.yml.
struct Case {
    project: String,
    schema: String,
    sql: String,
}

impl Case {
    fn new() -> Self {
        Case {
            project: "name: walk\nprofile: walk\nmodels:\n  walk:\n    sub:\n      +schema: s\nseeds:\n  walk:\n    seedsub:\n      +schema: s2\nsnapshots:\n  walk:\n    snapsub:\n      +schema: s3\n".into(),
            schema: [
                "version: 2",
                "sources:",
                "  - name: raw",
                "    tables:",
                "      - name: t",
                "        columns:",
                "          - name: sid",
                "models:",
                "  - name: m",
                "    columns:",
                "      - name: id",
                "        data_tests:",
                "          - not_null",
                "seeds:",
                "  - name: codes",
                "    columns:",
                "      - name: code",
                "snapshots:",
                "  - name: snap",
                "    columns:",
                "      - name: id",
                "",
            ]
            .join("\n"),
            sql: BASE_SQL.into(),
        }
    }

    /// Insert `line` (indented to `indent`) after the base line that ends with `after`.
    fn insert(text: &mut String, after: &str, indent: usize, line: &str) {
        let at = text.find(after).unwrap_or_else(|| panic!("{after}")) + after.len();
        let at = text[at..].find('\n').map(|i| at + i + 1).unwrap_or(text.len());
        text.insert_str(at, &format!("{}{line}\n", " ".repeat(indent)));
    }

    /// The project's files, in a new folder.
    fn write(&self) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        for folder in ["models", "macros", "seeds"] {
            std::fs::create_dir_all(p.join(folder)).unwrap();
        }
        std::fs::write(p.join("dbt_project.yml"), &self.project).unwrap();
        std::fs::write(p.join("models/_m.yml"), &self.schema).unwrap();
        std::fs::write(p.join("models/m.sql"), &self.sql).unwrap();
        std::fs::write(p.join("seeds/codes.csv"), "code,label\n1,one\n").unwrap();
        std::fs::create_dir_all(p.join("snapshots")).unwrap();
        std::fs::write(
            p.join("snapshots/snap.sql"),
            "{% snapshot snap %}{{ config(unique_key='id', strategy='check', check_cols='all') }}select 1 as id{% endsnapshot %}\n",
        )
        .unwrap();
        dir
    }

    fn load(&self) -> (tempfile::TempDir, Result<Project, String>) {
        let dir = self.write();
        let r = Project::load(dir.path()).map_err(|e| e.message);
        (dir, r)
    }
}

/// Keys that shape the base project itself (a model, its columns, a source): every test of
/// the engine exercises them.
fn structural(place: Place, key: &str) -> bool {
    let k = key.trim_start_matches('+');
    match place {
        Place::Project => [
            "name",
            "profile",
            "model-paths",
            "test-paths",
            "macro-paths",
            "vars",
            "models",
            "seeds",
            "snapshots",
        ]
        .contains(&k),
        Place::SchemaFile => ["models", "sources", "version", "seeds", "snapshots"].contains(&k),
        Place::Model => ["name", "columns", "config", "tests", "data_tests"].contains(&k),
        Place::Column => ["name", "tests", "data_tests", "config"].contains(&k),
        Place::Source => ["name", "tables", "config", "schema"].contains(&k),
        Place::SourceTable => ["name", "identifier", "columns", "tests", "data_tests", "config"].contains(&k),
        Place::Seed | Place::Snapshot => ["name", "columns", "config"].contains(&k),
        _ => false,
    }
}

#[derive(Default)]
struct Tally {
    accepted: usize,
    refused: usize,
    wrong: Vec<String>,
}

impl Tally {
    /// Load `case`; the outcome must be what [`handling`] says for `key` at `place`.
    fn check(&mut self, what: &str, place: Place, key: &str, value: &Value, case: &Case, file: &str) {
        let (_dir, r) = case.load();
        let bare = key.trim_start_matches('+');
        match (handling(place, key, value), r) {
            (Handling::Honoured | Handling::Inert, Ok(_)) => self.accepted += 1,
            (Handling::Refused(_), Err(e))
                if e.contains(&format!("`{bare}`")) && e.contains(file) && e.contains(" line ") =>
            {
                self.refused += 1
            }
            (h, r) => self
                .wrong
                .push(format!("{what} `{key}` = {value}: expected {h:?}, got {r:?}")),
        }
    }
}

#[test]
fn every_key_dbt_accepts_is_honoured_or_refused_at_load_with_its_line() {
    let dir = schemas();
    let read = |f: &str| -> Value { serde_json::from_str(&std::fs::read_to_string(dir.join(f)).unwrap()).unwrap() };
    let project_schema = read("project/0.0.110.json");
    let resources = read("resources/latest.json");
    let mut tally = Tally::default();

    // dbt_project.yml, top level.
    for key in properties(&project_schema, None) {
        if structural(Place::Project, &key) {
            continue;
        }
        let v = sample(&key);
        let mut c = Case::new();
        c.project += &format!("{key}: {v}\n");
        tally.check("dbt_project.yml", Place::Project, &key, &v, &c, "dbt_project.yml");
    }
    // dbt_project.yml, a folder's model config.
    for key in properties(&project_schema, Some("ProjectModelConfig")) {
        let v = sample(&key);
        let mut c = Case::new();
        Case::insert(&mut c.project, "  walk:", 4, &format!("{key}: {v}"));
        tally.check(
            "models: in dbt_project.yml",
            Place::ModelConfig,
            &key,
            &v,
            &c,
            "dbt_project.yml",
        );
    }
    // dbt_project.yml, a folder's seed config.
    for key in properties(&project_schema, Some("ProjectSeedConfig")) {
        let v = sample(&key);
        let mut c = Case::new();
        Case::insert(&mut c.project, "seeds:\n  walk:", 4, &format!("{key}: {v}"));
        tally.check(
            "seeds: in dbt_project.yml",
            Place::SeedConfig,
            &key,
            &v,
            &c,
            "dbt_project.yml",
        );
    }
    // dbt_project.yml, a folder's snapshot config.
    for key in properties(&project_schema, Some("ProjectSnapshotConfig")) {
        let v = sample(&key);
        let mut c = Case::new();
        Case::insert(&mut c.project, "snapshots:\n  walk:", 4, &format!("{key}: {v}"));
        tally.check(
            "snapshots: in dbt_project.yml",
            Place::SnapshotConfig,
            &key,
            &v,
            &c,
            "dbt_project.yml",
        );
    }
    // A model's config, in its schema file and in config().
    for key in properties(&resources, Some("ModelConfig")) {
        let v = sample(&key);
        let mut c = Case::new();
        Case::insert(&mut c.schema, "  - name: m", 4, &format!("config: {{{key}: {v}}}"));
        tally.check("a model's config:", Place::ModelConfig, &key, &v, &c, "_m.yml");
        let mut c = Case::new();
        let jinja = v.to_string().replace("null", "none");
        c.sql = format!("{{{{ config({key}={jinja}) }}}}\n{BASE_SQL}");
        tally.check("config()", Place::ModelConfig, &key, &v, &c, "m.sql");
    }
    // Schema-file levels: (definition, place, the base line it goes under, its indent).
    let levels: [(Option<&str>, Place, &str, usize); 13] = [
        (None, Place::SchemaFile, "version: 2", 0),
        (Some("ModelProperties"), Place::Model, "  - name: m", 4),
        (Some("ColumnProperties"), Place::Column, "      - name: id", 8),
        (Some("ColumnConfig"), Place::ColumnConfig, "      - name: id", 8),
        (Some("SourceProperties"), Place::Source, "  - name: raw", 4),
        (Some("SourceConfig"), Place::SourceConfig, "  - name: raw", 4),
        (Some("Tables"), Place::SourceTable, "      - name: t", 8),
        (Some("TablesConfig"), Place::TableConfig, "      - name: t", 8),
        (Some("DataTestConfig"), Place::TestConfig, "", 0),
        (Some("SeedProperties"), Place::Seed, "  - name: codes", 4),
        (Some("SeedConfig"), Place::SeedConfig, "  - name: codes", 4),
        (Some("SnapshotProperties"), Place::Snapshot, "  - name: snap", 4),
        (Some("SnapshotConfig"), Place::SnapshotConfig, "  - name: snap", 4),
    ];
    for (def, place, under, indent) in levels {
        for key in properties(&resources, def) {
            if structural(place, &key) {
                continue;
            }
            let v = sample(&key);
            let mut c = Case::new();
            match place {
                Place::TestConfig => {
                    c.schema = c.schema.replace(
                        "- not_null\n",
                        &format!("- not_null:\n              config: {{{key}: {v}}}\n"),
                    )
                }
                Place::ColumnConfig
                | Place::SourceConfig
                | Place::TableConfig
                | Place::SeedConfig
                | Place::SnapshotConfig => {
                    Case::insert(&mut c.schema, under, indent, &format!("config: {{{key}: {v}}}"))
                }
                _ => Case::insert(&mut c.schema, under, indent, &format!("{key}: {v}")),
            }
            tally.check(&format!("{place:?}"), place, &key, &v, &c, "_m.yml");
        }
    }
    assert!(
        tally.wrong.is_empty(),
        "{} keys not handled as crate::keys says:\n{}",
        tally.wrong.len(),
        tally.wrong.join("\n")
    );
    println!("{} keys accepted, {} refused at load", tally.accepted, tally.refused);
    // Most of dbt's keys belong to other adapters or features: refused, never ignored.
    assert!(
        tally.accepted > 40 && tally.refused > 300,
        "{} accepted, {} refused",
        tally.accepted,
        tally.refused
    );
}

/// A refusal reads as one sentence: the file and line, the key, what to do instead.
#[test]
fn a_refused_key_says_where_and_what_to_do_instead() {
    let mut c = Case::new();
    Case::insert(
        &mut c.schema,
        "  - name: m",
        4,
        "config:\n      grants: {select: [reporter]}",
    );
    let (_d, r) = c.load();
    let e = r.unwrap_err();
    assert!(
        e.contains("models/_m.yml line 11: `grants` (a model config) is not supported: landfall grants nothing"),
        "{e}"
    );
    let mut c = Case::new();
    c.sql = "{{ config(materialized='materialized_view') }}\nselect 1 as id\n".into();
    let e = c.load().1.unwrap_err();
    assert!(
        e.contains("m.sql line 1: `materialized`") && e.contains("table, view, incremental and ephemeral"),
        "{e}"
    );
    let mut c = Case::new();
    c.schema += "unit_tests:\n  - name: u\n    model: m\n";
    let e = c.load().1.unwrap_err();
    assert!(e.contains("_m.yml line 23: unit test u needs expect: rows"), "{e}");
}

/// Hooks add up as in dbt: the project's folder hooks, then the model's own, in order.
#[test]
fn hooks_from_every_level_add_up_in_dbts_order() {
    let mut c = Case::new();
    Case::insert(&mut c.project, "  walk:", 4, "+post-hook: \"select 'project'\"");
    Case::insert(
        &mut c.schema,
        "  - name: m",
        4,
        "config:\n      post_hook: [\"select 'yml'\"]",
    );
    c.sql = "{{ config(post_hook=\"select 'sql'\", pre_hook={'sql': \"select 'pre'\"}) }}\nselect 1 as id\n".into();
    let (_d, r) = c.load();
    let p = r.unwrap();
    let m = p.model("m").unwrap();
    assert_eq!(m.config.post_hook, ["select 'project'", "select 'yml'", "select 'sql'"]);
    assert_eq!(m.config.pre_hook, ["select 'pre'"]);
}

/// What dbt would build from files the engine does not read is refused too: a snapshot block
/// among the models, a snapshot in YAML, a Python model, a package's model; and a package that
/// is declared but not there.
#[test]
fn snapshots_python_models_and_packages_that_build_are_refused_naming_the_file() {
    let cases: [(&str, &str, &str); 6] = [
        (
            "models/s.sql",
            "{% snapshot s %}select 1{% endsnapshot %}",
            "models/s.sql: a snapshot block belongs in the snapshot paths",
        ),
        (
            "snapshots/s.yml",
            "snapshots:\n  - name: s\n    relation: ref('m')\n",
            "snapshots/s.yml line 3: `relation` (a snapshot property) is not supported",
        ),
        (
            "models/p.py",
            "def model(dbt, session):\n    return None\n",
            "models/p.py: Python models are not supported",
        ),
        (
            "packages.yml",
            "packages:\n  - local: ../utils\n",
            "packages.yml line 2: the local package ../utils has no dbt_project.yml",
        ),
        (
            "packages.yml",
            "packages:\n  - package: dbt-labs/dbt_utils\n    version: 1.3.0\n",
            "packages.yml: 1 package(s) declared, 0 installed in dbt_packages/: run `dbt deps`",
        ),
        (
            "dbt_packages/p/models/x.sql",
            "select 1 as x\n",
            "dbt_packages/p/models/x.sql: package p: its models would be built by dbt",
        ),
    ];
    for (file, text, says) in cases {
        let dir = Case::new().write();
        let p = dir.path();
        std::fs::create_dir_all(p.join(file).parent().unwrap()).unwrap();
        std::fs::write(p.join(file), text).unwrap();
        if file.starts_with("dbt_packages/p/") {
            std::fs::write(p.join("dbt_packages/p/dbt_project.yml"), "name: p\n").unwrap();
        }
        let e = Project::load(p).unwrap_err().message;
        assert!(e.contains(says), "{file}: {e}");
    }
}

/// A name of dbt's context the engine does not provide (or a typo) is refused at load with
/// the file and line, where a lenient render would print nothing: `graph.nodes` would yield
/// nothing to loop over. In a macro file too, and in a hook.
#[test]
fn a_name_the_engine_lacks_is_refused_at_load_not_rendered_empty() {
    let cases: [(&str, &str, &str); 5] = [
        (
            "models/m.sql",
            "select 1 as id\n{% if execute %}{% do adapter.drop_relation(this) %}{% endif %}\n",
            "models/m.sql line 2: `adapter.drop_relation`",
        ),
        (
            "models/m.sql",
            "select 1 as id\n{% for n in graph.nodes %}{% endfor %}\n",
            "models/m.sql line 2: `graph`",
        ),
        (
            "models/m.sql",
            "select * from {{ reff('m') }}\n",
            "models/m.sql line 1: `reff`",
        ),
        (
            "macros/cast.sql",
            "{% macro my_cast(x) %}\n  {% set r = adapter.rename_relation(x, x) %}{{ x }}\n{% endmacro %}\n",
            "macros/cast.sql line 2: `adapter.rename_relation`",
        ),
        (
            "models/_m.yml",
            "models:\n  - name: m\n    config:\n      post_hook: \"insert into log select '{{ modules.datetime.date.today() }}'\"\n",
            "models/m.sql post_hook 1 line 1: `modules.datetime`",
        ),
    ];
    for (file, text, says) in cases {
        let dir = Case::new().write();
        let p = dir.path();
        std::fs::write(p.join(file), text).unwrap();
        let e = Project::load(p).unwrap_err().message;
        assert!(e.contains(says) && e.contains("is not supported"), "{file}: {e}");
    }
}
