//! The layering of `src/`, checked from the source: top-level modules import each other
//! without circles, and nothing below the HTTP layer reaches up into `api` or `startup`.
//!
//! A module's imports are the `crate::<module>` paths in its code (comments and doc links
//! are not imports). `main.rs` and `cli/` are the binary and may use anything; the dev tools
//! (`demo`, `bench`, `phone`, `admin_client`) start or drive whole gateways and sit above
//! `startup`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Top-level module -> the top-level modules its code names through `crate::`.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_owned();
        if ["main", "lib", "cli"].contains(&module.as_str()) {
            continue;
        }
        let deps = graph.entry(module.clone()).or_default();
        for line in fs::read_to_string(&file).unwrap().lines() {
            let code = line.split("//").next().unwrap_or_default();
            let mut rest = code;
            while let Some(at) = rest.find("crate::") {
                rest = &rest[at + "crate::".len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != module {
                    deps.insert(name);
                }
            }
        }
    }
    graph
}

#[test]
fn nothing_below_the_http_layer_reaches_up_into_api_or_startup() {
    let graph = imports();
    for (module, deps) in &graph {
        // The HTTP layer itself, and the dev tools that start a whole gateway.
        if ["api", "startup", "demo", "bench", "phone", "admin_client"].contains(&module.as_str()) {
            continue;
        }
        for up in ["api", "startup"] {
            assert!(
                !deps.contains(up),
                "src/{module} imports crate::{up}; move what it needs down instead"
            );
        }
    }
    for module in ["domain", "store", "engine", "push", "auth"] {
        for up in ["state", "config"] {
            assert!(
                !graph[module].contains(up),
                "src/{module} imports crate::{up}: settings and state are composed above it"
            );
        }
    }
    for dep in &graph["domain"] {
        assert!(
            ["clock", "error_chain"].contains(&dep.as_str()),
            "src/domain holds pure rules and may not import crate::{dep}"
        );
    }
}

#[test]
fn top_level_modules_import_each_other_without_circles() {
    let graph = imports();
    // Depth-first search with the path kept, so a circle is reported by its members.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if let Some(at) = path.iter().position(|n| n == node) {
            panic!("import circle: {} -> {node}", path[at..].join(" -> "));
        }
        if done.contains(node) {
            return;
        }
        path.push(node.to_owned());
        for dep in graph.get(node).into_iter().flatten() {
            visit(dep, graph, path, done);
        }
        path.pop();
        done.insert(node.to_owned());
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        visit(module, &graph, &mut Vec::new(), &mut done);
    }
}
