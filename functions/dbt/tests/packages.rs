//! Packages (landfall_dbt::package): an installed package in `dbt_packages/` and a `local:`
//! one are read for their macros and generic tests, which templates reach as dbt's do
//! (`<package>.<macro>`, `adapter.dispatch(name, '<package>')` in the `dispatch:` search
//! order, a package's generic test by its namespaced or bare name); a name or method that does
//! not exist, and a package that would build something, are refused at load with the file.

use landfall_dbt::{Project, RenderScope, TestSpec, compile, render};
use std::path::Path;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// A project using `money` (installed in dbt_packages/) and `labels` (local, in libs/labels).
fn project(extra: &[(&str, &str)]) -> (tempfile::TempDir, Result<Project, String>) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "dbt_project.yml", "name: shop\nprofile: shop\n");
    write(
        root,
        "packages.yml",
        "packages:\n  - package: acme/money\n    version: 1.0.0\n  - local: libs/labels\n",
    );
    write(
        root,
        "dbt_packages/money/dbt_project.yml",
        "name: money\nversion: '1.0.0'\nconfig-version: 2\n",
    );
    write(
        root,
        "dbt_packages/money/macros/cents.sql",
        "{% macro cents(col) %}{{ return(adapter.dispatch('cents', 'money')(col)) }}{% endmacro %}\n\
         {% macro default__cents(col) %}round({{ col }} * {{ money.factor() }}){% endmacro %}\n\
         {% macro duckdb__cents(col) %}cast(round({{ col }} * {{ ten() }}0) as integer){% endmacro %}\n\
         {% macro ten() %}10{% endmacro %}\n",
    );
    write(
        root,
        "dbt_packages/money/macros/factor.sql",
        "{% macro factor() %}100{% endmacro %}\n",
    );
    write(
        root,
        "dbt_packages/money/tests/generic/positive.sql",
        "{% test positive(model, column_name) %}select * from {{ model }} where {{ column_name }} <= 0{% endtest %}\n",
    );
    write(root, "libs/labels/dbt_project.yml", "name: labels\n");
    write(
        root,
        "libs/labels/macros/label.sql",
        "{% macro shout(col) %}upper({{ col }}){% endmacro %}\n",
    );
    write(
        root,
        "models/prices.sql",
        "select {{ money.cents('price') }} as cents, {{ labels.shout('name') }} as name from raw\n",
    );
    write(
        root,
        "models/_m.yml",
        "version: 2\nmodels:\n  - name: prices\n    columns:\n      - name: cents\n        data_tests: [money.positive]\n",
    );
    for (rel, text) in extra {
        write(root, rel, text);
    }
    let p = Project::load(root).map_err(|e| e.message);
    (dir, p)
}

fn rendered(p: &Project, model: &str, target_type: &str) -> String {
    let m = p.model(model).unwrap();
    let mut scope = RenderScope::parsing(p);
    scope.target.type_ = target_type.into();
    render::render(p, &m.raw_sql, &m.path, &scope).unwrap().0
}

#[test]
fn a_package_s_macros_render_by_namespace_and_dispatch_as_in_dbt() {
    let (_d, p) = project(&[]);
    let p = p.unwrap();
    assert_eq!(
        p.packages.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(),
        ["labels", "money"]
    );
    // The adapter's own implementation, which calls a macro of its file by its bare name, and
    // the default one, which calls its package's macro in another file by its namespace.
    assert_eq!(
        rendered(&p, "prices", "duckdb"),
        "select cast(round(price * 100) as integer) as cents, upper(name) as name from raw"
    );
    assert_eq!(
        rendered(&p, "prices", "snowflake"),
        "select round(price * 100) as cents, upper(name) as name from raw"
    );
}

#[test]
fn the_project_s_dispatch_search_order_overrides_a_package_s_macro() {
    let (_d, p) = project(&[
        (
            "dbt_project.yml",
            "name: shop\nprofile: shop\ndispatch:\n  - macro_namespace: money\n    search_order: ['shop', 'money']\n",
        ),
        (
            "macros/cents.sql",
            "{% macro default__cents(col) %}floor({{ col }} * 100){% endmacro %}\n",
        ),
    ]);
    let p = p.unwrap();
    // The project's default__cents comes before the package's duckdb__cents: the search order
    // is the outer loop, as in dbt.
    assert!(rendered(&p, "prices", "duckdb").starts_with("select floor(price * 100) as cents"));
}

#[test]
fn a_package_s_generic_test_is_found_by_its_namespaced_name() {
    let (_d, p) = project(&[]);
    let p = p.unwrap();
    let t: &TestSpec = p.tests.iter().find(|t| t.kind == "money.positive").unwrap();
    assert_eq!(t.name, "money_positive_prices_cents");
    assert_eq!(
        compile::compile_test(&p, t, &RenderScope::parsing(&p)).unwrap(),
        "select * from __parse__.prices where cents <= 0"
    );
}

#[test]
fn what_a_package_lacks_or_would_build_is_refused_at_load_with_the_file() {
    let cases: [(&[(&str, &str)], &str); 8] = [
        (
            &[(
                "models/prices.sql",
                "select {{ money.dollars('price') }} as cents from raw\n",
            )],
            "models/prices.sql line 1: `money.dollars` is not supported: package money has no macro dollars",
        ),
        (
            &[(
                "dbt_packages/money/macros/factor.sql",
                "{% macro factor() %}{{ graph.nodes }}{% endmacro %}\n",
            )],
            "dbt_packages/money/macros/factor.sql line 1: `graph` is not supported",
        ),
        (
            &[("models/prices.sql", "select {{ dbt_utils.star(ref('x')) }} from raw\n")],
            "`dbt_utils` is not supported: it is a package's namespace, and no package of that name is installed",
        ),
        (
            &[("dbt_packages/money/models/m.sql", "select 1 as x\n")],
            "dbt_packages/money/models/m.sql: package money: its models would be built by dbt",
        ),
        (
            &[("libs/labels/dbt_project.yml", "name: shop\n")],
            "libs/labels/dbt_project.yml: a package may not be named 'shop'",
        ),
        (
            &[(
                "models/_m.yml",
                "version: 2\nmodels:\n  - name: prices\n    columns:\n      - name: cents\n        data_tests: [positive]\n",
            )],
            "generic test positive is package money's: name it money.positive",
        ),
        (
            &[(
                "dbt_packages/money/macros/cents.sql",
                "{% macro cents(col) %}{{ col }} * {{ factor() }}{% endmacro %}\n",
            )],
            "dbt_packages/money/macros/cents.sql line 1: factor() is a macro of package money in dbt_packages/money/macros/factor.sql, which dbt does not find by its bare name from another file: call it as money.factor()",
        ),
        (
            &[(
                "models/_m.yml",
                "version: 2\nmodels:\n  - name: prices\n    columns:\n      - name: cents\n        data_tests: [money.negative]\n",
            )],
            "test money_negative_prices_cents on model prices: there is no generic test 'money.negative'",
        ),
    ];
    for (extra, says) in cases {
        let (_d, p) = project(extra);
        let e = p.unwrap_err();
        assert!(e.contains(says), "{says}\n{e}");
    }
}
