//! The layers of `src/` (README, "Layout"): imports point one way, from the top (start-up and
//! the route table) to the features, to the shared core, to the base, never back. Reads every
//! source file's `crate::` paths (outside comments) and fails naming each import that points up.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Lowest first. A module may use its own layer and those below it.
const LAYERS: &[(&str, &[&str])] = &[
    ("base", &["clock", "config", "crypto", "csv_io", "csv_safe", "db", "error", "telemetry"]),
    ("core", &["audit", "authz", "events", "jobs", "messaging", "web", "workspaces"]),
    (
        "features",
        &["audit_log", "auth", "campaigns", "canned", "chat", "clients", "dashboard", "departments", "email", "imports", "notifications", "ops", "settings", "users"],
    ),
    ("top", &["cli", "registry", "routes", "seed", "startup"]),
];

/// `#[macro_export]` macros are named at the crate root; the module that defines each.
const MACROS: &[(&str, &str)] = &[("pages", "web"), ("text_enum", "db")];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, modules)| modules.contains(&module))
}

/// The first identifier of `text`, and the module it names: a macro's (`pages!`) is the
/// module that defines it.
fn first_name(text: &str) -> Option<String> {
    let text = text.trim_start();
    let name: String = text.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    if name.is_empty() {
        return None;
    }
    if text[name.len()..].starts_with('!') {
        return MACROS.iter().find(|(m, _)| *m == name).map(|(_, module)| module.to_string()).or(Some(name + "!"));
    }
    Some(name)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`src/web/ctx.rs` → `web`).
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).expect("under src");
    let first = relative.components().next().expect("a path").as_os_str().to_string_lossy().to_string();
    first.trim_end_matches(".rs").to_string()
}

/// The top-level modules a file names through `crate::` (also `use crate::{a, b::c}`), with
/// line comments and doc comments left out.
fn used_modules(text: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or("");
                used.extend(inner.split(',').filter_map(first_name));
            } else {
                used.extend(first_name(rest));
            }
        }
    }
    used
}

#[test]
fn imports_point_down_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut upward = Vec::new();
    let mut unplaced = BTreeSet::new();
    for file in &files {
        let module = module_of(&src, file);
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(own) = layer_of(&module) else {
            unplaced.insert(module);
            continue;
        };
        let text = std::fs::read_to_string(file).expect("a readable source file");
        for used in used_modules(&text) {
            match layer_of(&used) {
                Some(layer) if layer > own => upward.push(format!(
                    "{} ({}) uses crate::{used} ({})",
                    file.strip_prefix(&src).unwrap_or(file).display(),
                    LAYERS[own].0,
                    LAYERS[layer].0
                )),
                Some(_) => {}
                None => {
                    unplaced.insert(used);
                }
            }
        }
    }
    assert!(unplaced.is_empty(), "modules on no layer (add them to LAYERS): {unplaced:?}");
    assert!(upward.is_empty(), "imports that point up a layer:\n{}", upward.join("\n"));
}

#[test]
fn the_reader_sees_grouped_and_inline_paths_but_not_comments() {
    let text = "use crate::{db, web::ctx::Ctx, clients as c};\nlet x = crate::jobs::run();\ncrate::pages!(A);\n// crate::startup is named in a comment\n/// so is crate::routes";
    let used: Vec<String> = used_modules(text).into_iter().collect();
    assert_eq!(used, ["clients", "db", "jobs", "web"]);
}
