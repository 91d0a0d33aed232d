//! The project's files as text: `dbt_project.yml`, `profiles.yml`, the sources YAML with the
//! landing contract, one `stg_` model per file and its tests.

use crate::Sample;
use landfall_core::csvcheck::Dialect;
use landfall_core::warehouse::portable_ident;

/// Path below the project → contents.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectFiles {
    pub files: Vec<(String, String)>,
}

/// A YAML (and JSON) double-quoted scalar.
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn ch(c: u8) -> String {
    q(&(c as char).to_string())
}

fn dialect_yaml(d: &Dialect) -> String {
    format!(
        "{{delimiter: {}, quote: {}, escape: {}, header: {}, encoding: utf-8}}",
        ch(d.delimiter),
        ch(d.quote),
        ch(d.escape),
        d.header
    )
}

/// The project `name` over `samples`.
pub fn render_project(name: &str, samples: &[Sample]) -> ProjectFiles {
    let mut files = Vec::new();
    let list: Vec<&str> = samples.iter().map(|s| s.file.as_str()).collect();
    files.push((
        "dbt_project.yml".to_string(),
        format!(
            "# Scaffolded by `landfall init` from {list}. dbt-compatible: `landfall run` builds it\n\
             # (staging models built, tested, then published), and real dbt parses it.\n\
             name: '{name}'\n\
             version: '1.0.0'\n\
             config-version: 2\n\
             profile: '{name}'\n\n\
             model-paths: [\"models\"]\n\
             test-paths: [\"tests\"]\n\
             macro-paths: [\"macros\"]\n\
             target-path: \"target\"\n\
             clean-targets: [\"target\", \"dbt_packages\"]\n\n\
             vars:\n\
             \x20 # The batch to transform; every run passes its own (dbt: --vars '{{batch: 2026-11-26}}').\n\
             \x20 batch: ''\n\n\
             models:\n\
             \x20 {name}:\n\
             \x20   staging:\n\
             \x20     +materialized: table\n\
             \x20     +schema: staging\n\
             \x20     +meta:\n\
             \x20       publish: true\n",
            list = list.join(", ")
        ),
    ));
    files.push((
        "profiles.yml".to_string(),
        format!(
            "# For real dbt: dbt-duckdb over a copy of a Landfall warehouse file.\n\
             {name}:\n\
             \x20 target: local\n\
             \x20 outputs:\n\
             \x20   local:\n\
             \x20     type: duckdb\n\
             \x20     path: \"{{{{ env_var('LANDFALL_DBT_DUCKDB_PATH', '{name}.duckdb') }}}}\"\n\
             \x20     schema: main\n\
             \x20     threads: 2\n"
        ),
    ));
    files.push((
        "macros/generate_schema_name.sql".to_string(),
        "{# dbt: use the custom schema verbatim (staging), as Landfall does. #}\n\
         {% macro generate_schema_name(custom_schema_name, node) -%}\n\
         \x20   {{ custom_schema_name if custom_schema_name is not none else target.schema }}\n\
         {%- endmacro %}\n"
            .to_string(),
    ));

    let mut sources = String::from(
        "version: 2\n\n\
         # The landing contract: each table is a file of every batch (landing/<batch>/<file>),\n\
         # with the columns its header must have and how it is written (sniffed from the sample\n\
         # by `landfall init`; a file in another dialect is refused, not misread).\n\
         sources:\n\
         \x20 - name: raw\n\
         \x20   schema: raw\n\
         \x20   tables:\n",
    );
    let mut staging = String::from("version: 2\n\nmodels:\n");
    for s in samples {
        let required: Vec<String> = s.columns.iter().map(|c| q(&c.name)).collect();
        sources += &format!(
            "      - name: {table}\n\
             \x20       config:\n\
             \x20         meta:\n\
             \x20           landfall:\n\
             \x20             file: {file}\n\
             \x20             required: [{required}]\n\
             \x20             dialect: {dialect}\n",
            table = s.table,
            file = q(&s.file),
            required = required.join(", "),
            dialect = dialect_yaml(&s.dialect),
        );
        staging += &format!(
            "  - name: stg_{table}\n\
             \x20   description: {desc}\n\
             \x20   columns:\n",
            table = s.table,
            desc = q(&format!("The batch's rows of {}, columns renamed and typed.", s.file)),
        );
        let mut select = Vec::new();
        for c in &s.columns {
            let text = format!("nullif(trim({}), '')", portable_ident(&c.name));
            let expr = match c.ty.sql() {
                Some(t) => format!("try_cast({text} as {t})"),
                None => text,
            };
            select.push(format!("    {expr} as {}", c.column));
            staging += &format!("      - name: {}\n", c.column);
            let mut tests = Vec::new();
            if c.not_null {
                tests.push("not_null");
            }
            if !tests.is_empty() {
                staging += &format!("        data_tests: [{}]\n", tests.join(", "));
            }
        }
        select.push("    _row_number as source_row".into());
        files.push((
            format!("models/staging/stg_{}.sql", s.table),
            format!(
                "-- {file}: the batch's rows, columns renamed to snake_case and typed where every value of\n\
                 -- the {rows}-row sample parsed (try_cast: a value that does not parse is null, which the\n\
                 -- not_null tests catch).\n\
                 select\n{cols}\n\
                 from {{{{ source('raw', '{table}') }}}}\n\
                 where _batch = '{{{{ var(\"batch\") }}}}'\n",
                file = s.file,
                rows = s.rows,
                cols = select.join(",\n"),
                table = s.table,
            ),
        ));
    }
    files.push(("models/staging/_sources.yml".into(), sources));
    files.push(("models/staging/_staging.yml".into(), staging));
    ProjectFiles { files }
}
