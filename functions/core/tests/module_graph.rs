//! The modules of landfall-core form no cycle: each one's `crate::` uses (outside comments
//! and its tests) point only at modules that do not lead back to it. A cycle is where
//! layering breaks down (the engine seam reaching up into the handlers, say); this keeps the
//! layout readable as the architecture.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module → the modules its code names (`crate::x`, `use crate::{x, y}`).
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = Vec::new();
    for e in std::fs::read_dir(&src).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            for f in std::fs::read_dir(&p).unwrap().flatten() {
                files.push((p.file_name().unwrap().to_string_lossy().into_owned(), f.path()));
            }
        } else if p.extension().is_some_and(|x| x == "rs") && p.file_stem().unwrap() != "lib" {
            files.push((p.file_stem().unwrap().to_string_lossy().into_owned(), p));
        }
    }
    for (module, path) in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        let code: String = code
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let uses = g.entry(module.clone()).or_default();
        let mut rest = code.as_str();
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + 7..];
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    let name = item.trim().split("::").next().unwrap_or("").to_string();
                    if !name.is_empty() {
                        uses.insert(name);
                    }
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                uses.insert(name);
            }
        }
        uses.remove(&module);
    }
    let modules: BTreeSet<String> = g.keys().cloned().collect();
    for uses in g.values_mut() {
        uses.retain(|u| modules.contains(u));
    }
    g
}

/// A path from `from` back to `from`, if there is one.
fn cycle_through(g: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
    fn walk(
        g: &BTreeMap<String, BTreeSet<String>>,
        at: &str,
        goal: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in &g[at] {
            if next == goal {
                path.push(next.clone());
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(g, next, goal, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![from.to_string()];
    walk(g, from, from, &mut path, &mut BTreeSet::new()).then_some(path)
}

#[test]
fn the_core_modules_form_no_cycle() {
    let g = graph();
    assert!(g.len() > 15, "the walk found the modules: {:?}", g.keys());
    assert!(
        g["handlers"].contains("warehouse"),
        "uses are read: {:?}",
        g["handlers"]
    );
    let cycles: Vec<String> = g
        .keys()
        .filter_map(|m| cycle_through(&g, m))
        .map(|c| c.join(" → "))
        .collect();
    assert!(
        cycles.is_empty(),
        "module cycles in landfall-core:\n{}",
        cycles.join("\n")
    );
}
