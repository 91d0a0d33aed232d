//! `return()` as dbt's: a macro hands back a value of any kind (list, dict, boolean, number,
//! none, text), the rest of its output discarded, whether it is called by its bare name, from
//! another macro, through a package's namespace or `adapter.dispatch`. A `{% call %}` block into
//! a macro is refused at load; an error inside a macro names the macro's file and line.

use landfall_dbt::{Project, RenderScope, render};
use std::path::Path;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

const MACROS: &str = "\
{% macro payment_methods() %}
  -- a comment dbt discards with the rest of the output
  {{ return(['card', 'coupon']) }}
{% endmacro %}
{% macro flags() %}{{ return({'strict': true, 'n': 2}) }}{% endmacro %}
{% macro is_big(n) %}{{ return(n > 10) }}{% endmacro %}
{% macro nothing() %}{{ return(none) }}{% endmacro %}
{% macro columns_sql() %}{% set cols = [] %}{% for m in payment_methods() %}{% do cols.append(m ~ '_amount') %}{% endfor %}{{ return(cols | join(', ')) }}{% endmacro %}
{% macro pick(xs) %}{{ return(adapter.dispatch('pick')(xs)) }}{% endmacro %}
{% macro default__pick(xs) %}{{ return(xs[0]) }}{% endmacro %}
{% macro duckdb__pick(xs) %}{{ return(xs[-1]) }}{% endmacro %}
{% macro boom() %}{{ exceptions.raise_compiler_error('boom') }}{% endmacro %}
";

fn project(model: &str) -> (tempfile::TempDir, Result<Project, String>) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "dbt_project.yml", "name: shop\nprofile: shop\n");
    write(root, "macros/m.sql", MACROS);
    write(root, "dbt_packages/lists/dbt_project.yml", "name: lists\n");
    write(
        root,
        "dbt_packages/lists/macros/l.sql",
        "{% macro pair(a, b) %}{{ return([a, b]) }}{% endmacro %}\n{% macro swapped(a, b) %}{{ return(pair(b, a)) }}{% endmacro %}\n",
    );
    write(root, "models/m.sql", model);
    let p = Project::load(root).map_err(|e| e.message);
    (dir, p)
}

fn rendered(model: &str) -> String {
    let (_d, p) = project(model);
    let p = p.unwrap();
    let m = p.model("m").unwrap();
    render::render(&p, &m.raw_sql, &m.path, &RenderScope::parsing(&p))
        .unwrap()
        .0
}

#[test]
fn a_macro_returns_a_value_of_any_kind() {
    let cases = [
        ("{% for m in payment_methods() %}{{ m }};{% endfor %}", "card;coupon;"),
        ("{{ payment_methods() | length }}", "2"),
        ("{{ flags()['strict'] }} {{ flags().n + 1 }}", "true 3"),
        (
            "{% if is_big(11) %}big{% endif %}{% if not is_big(3) %} small{% endif %}",
            "big small",
        ),
        ("{{ nothing() is none }}", "true"),
        ("select {{ columns_sql() }}", "select card_amount, coupon_amount"),
        ("{{ pick(['a', 'b', 'c']) }}", "c"),
        ("{{ lists.swapped(1, 2) }}", "[2, 1]"),
    ];
    for (model, want) in cases {
        assert_eq!(rendered(model).to_lowercase(), want, "{model}");
    }
}

#[test]
fn a_call_block_into_a_macro_is_refused_and_errors_name_the_macro_file() {
    let (_d, p) = project("select 1\n{% call payment_methods() %}x{% endcall %}\n");
    let e = p.unwrap_err();
    assert!(
        e.contains("models/m.sql line 2: a {% call payment_methods(…) %} block is not supported"),
        "{e}"
    );
    // dbt's parse renders the model too, and fails there as well.
    let (_d, p) = project("select {{ boom() }}\n");
    let e = p.unwrap_err();
    assert!(
        e.contains("models/m.sql (in the macro at macros/m.sql line 12)") && e.contains("boom"),
        "{e}"
    );
}
