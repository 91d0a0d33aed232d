//! dbt packages: what `dbt deps` installed in `dbt_packages/` and the `local:` packages of
//! `packages.yml`, read for their macros and generic tests. Templates reach a package's macros
//! as `<package>.<macro>(…)` and `adapter.dispatch(name, '<package>')`; its generic tests are
//! `<package>.<test>` (or the bare name, when no other package and not the project has it), as
//! in dbt. Nothing is downloaded: `dbt deps` stays the user's step.

use crate::error::{ProjectError, Result};
use crate::load::{cfg_err, files_with_ext, read_macros, read_yaml_text, string_list};
use serde_yaml::Value as Yaml;
use std::path::{Path, PathBuf};

/// One package: its name (its own dbt_project.yml's) and its macros as one template text.
#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    /// Its macro files (`macro-paths`, and generic tests in `<test-path>/generic`), converted
    /// as the project's are (crate::load::read_macros).
    pub macros: String,
    /// Where each macro file starts in [`Package::macros`], paths below the project's root.
    pub macro_files: Vec<(usize, PathBuf)>,
}

/// Names a package may not take: they are dbt's own, or the engine's globals.
const RESERVED: &[&str] = &[
    "dbt",
    "adapter",
    "target",
    "this",
    "exceptions",
    "modules",
    "execute",
    "var",
    "env_var",
    "ref",
    "source",
    "config",
    "log",
    "return",
    "run_query",
    "statement",
    "load_result",
];

/// Every package of the project at `root` (whose dbt_project.yml is `project`, named `name`):
/// those installed in `packages-install-path` and the `local:` ones declared, each once.
/// Refused: a package declared but not installed (`dbt deps` installs it), a package that
/// would build something (models, seeds, snapshots, hooks: dbt builds them, landfall reads
/// only macros), `projects:` of dependencies.yml (dbt Mesh).
pub fn load(root: &Path, project: &Yaml, name: &str) -> Result<Vec<Package>> {
    let install = string_list(project.get("packages-install-path"), "dbt_packages");
    // The local packages first, so messages name their own files rather than the links
    // `dbt deps` makes to them in dbt_packages/.
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut declared: Vec<(PathBuf, usize)> = Vec::new();
    for file in ["packages.yml", "dependencies.yml"] {
        let f = root.join(file);
        if !f.is_file() {
            continue;
        }
        let (y, text) = read_yaml_text(&f)?;
        let at = |key: &str| crate::keys::located(Path::new(file), &text, key);
        if y.get("projects").is_some() {
            return Err(ProjectError::config(format!(
                "{}: projects (dbt Mesh's cross-project refs) are not supported: ref models of this project",
                at("projects")
            )));
        }
        let entries = y
            .get("packages")
            .and_then(Yaml::as_sequence)
            .cloned()
            .unwrap_or_default();
        for p in &entries {
            if let Some(local) = p.get("local").and_then(Yaml::as_str) {
                let d = root.join(local);
                if !d.join("dbt_project.yml").is_file() {
                    return Err(ProjectError::config(format!(
                        "{}: the local package {local} has no dbt_project.yml (looked in {})",
                        at("local"),
                        d.display()
                    )));
                }
                dirs.push(d);
            } else if !["package", "git", "tarball", "private"]
                .iter()
                .any(|k| p.get(*k).is_some())
            {
                return Err(ProjectError::config(format!(
                    "{file}: a package entry needs local, package, git, tarball or private, found {}",
                    serde_yaml::to_string(p).unwrap_or_default().trim()
                )));
            }
        }
        if !entries.is_empty() {
            declared.push((PathBuf::from(file), entries.len()));
        }
    }
    for d in &install {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(root.join(d))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.join("dbt_project.yml").is_file())
            .collect();
        entries.sort();
        dirs.extend(entries);
    }
    let mut packages: Vec<Package> = Vec::new();
    for d in dirs {
        let p = read(root, &d, name)?;
        if !packages.iter().any(|q| q.name == p.name) {
            packages.push(p);
        }
    }
    let wanted: usize = declared.iter().map(|(_, n)| n).sum();
    if let Some((file, _)) = declared.first()
        && packages.len() < wanted
    {
        return Err(ProjectError::config(format!(
            "{}: {wanted} package(s) declared, {} installed in {}/: run `dbt deps` to install them (landfall reads installed packages, it does not download them)",
            file.display(),
            packages.len(),
            install.join(", ")
        )));
    }
    Ok(packages)
}

/// The package in `dir`, its paths named below `root` in messages.
fn read(root: &Path, dir: &Path, project_name: &str) -> Result<Package> {
    let shown = |p: &Path| p.strip_prefix(root).unwrap_or(p).to_path_buf();
    let pf = dir.join("dbt_project.yml");
    let (y, _) = read_yaml_text(&pf)?;
    let name = y
        .get("name")
        .and_then(Yaml::as_str)
        .ok_or_else(|| cfg_err(&shown(&pf), "missing 'name'"))?
        .to_string();
    if name == project_name || RESERVED.contains(&name.as_str()) {
        return Err(cfg_err(
            &shown(&pf),
            format!("a package may not be named '{name}' (the project's own name, or one of dbt's): rename it"),
        ));
    }
    let refuse = |what: &str, f: &Path| {
        Err(cfg_err(
            &shown(f),
            format!(
                "package {name}: its {what} would be built by dbt, and landfall uses only a package's macros and generic tests: copy it into the project"
            ),
        ))
    };
    for (key, default, exts, what) in [
        ("model-paths", "models", &["sql", "py"][..], "models"),
        ("seed-paths", "seeds", &["csv"][..], "seeds"),
        ("snapshot-paths", "snapshots", &["sql"][..], "snapshots"),
    ] {
        let mut found = Vec::new();
        for d in string_list(y.get(key), default) {
            files_with_ext(&dir.join(d), exts, &mut found);
        }
        if let Some(f) = found.first() {
            return refuse(what, f);
        }
    }
    for hook in ["on-run-start", "on-run-end"] {
        if y.get(hook).is_some_and(|h| !h.is_null()) {
            return refuse(&format!("{hook} hooks"), &pf);
        }
    }
    let mut macro_dirs: Vec<PathBuf> = string_list(y.get("macro-paths"), "macros")
        .iter()
        .map(|d| dir.join(d))
        .collect();
    macro_dirs.extend(
        string_list(y.get("test-paths"), "tests")
            .iter()
            .map(|d| dir.join(d).join("generic")),
    );
    let (macros, macro_files) = read_macros(root, &macro_dirs)?;
    refuse_bare_calls_across_files(&name, &macros, &macro_files)?;
    Ok(Package {
        name,
        macros,
        macro_files,
    })
}

/// The macro a generic test `kind` calls: `<package>.test_<name>` for `package.name`, the
/// project's `test_<name>` for a bare name. `None` when nothing defines it. A bare name only a
/// package defines is refused: dbt parses it but cannot compile it (`'test_x' is undefined`).
pub fn generic_test_macro(project: &crate::Project, kind: &str) -> Result<Option<String>> {
    let defines = |text: &str, name: &str| crate::render::macro_names(text).any(|m| m == name);
    if let Some((package, name)) = kind.split_once('.') {
        let test = format!("test_{name}");
        let found = match project.packages.iter().find(|p| p.name == package) {
            Some(p) => defines(&p.macros, &test),
            None if package == project.name => defines(&project.macros, &test),
            None => false,
        };
        return Ok(found.then(|| format!("{package}.{test}")));
    }
    let test = format!("test_{kind}");
    if defines(&project.macros, &test) {
        return Ok(Some(test));
    }
    match project.packages.iter().find(|p| defines(&p.macros, &test)) {
        Some(p) => Err(ProjectError::config(format!(
            "generic test {kind} is package {}'s: name it {}.{kind} (dbt finds a package's test only by its namespaced name)",
            p.name, p.name
        ))),
        None => Ok(None),
    }
}

/// dbt finds a bare macro name in the calling project's namespace, not the package's: a
/// package macro calling one of its package's macros from another file by its bare name fails
/// in dbt (`'factor' is undefined`), so it is refused here, where the package's macros share
/// one template and the call would work.
fn refuse_bare_calls_across_files(package: &str, macros: &str, files: &[(usize, PathBuf)]) -> Result<()> {
    let texts = crate::load::macro_file_texts(macros, files);
    for (i, (file, text)) in texts.iter().enumerate() {
        let own: Vec<&str> = crate::render::macro_names(text).collect();
        for (other_file, other) in texts.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, t)| t) {
            for m in crate::render::macro_names(other).filter(|m| !own.contains(m)) {
                let call = format!("{m}(");
                let bare = text.match_indices(&call).find(|(at, _)| {
                    let before = text[..*at].chars().next_back();
                    !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
                        && !text[..*at].trim_end().ends_with("macro")
                });
                if let Some((at, _)) = bare {
                    let line = text[..at].matches('\n').count() + 1;
                    return Err(ProjectError::config(format!(
                        "{} line {line}: {m}() is a macro of package {package} in {}, which dbt does not find by its bare name from another file: call it as {package}.{m}()",
                        file.display(),
                        other_file.display()
                    )));
                }
            }
        }
    }
    Ok(())
}
