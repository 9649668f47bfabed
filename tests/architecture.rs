//! The layering of `src/`, checked from the source: no module imports another that imports it
//! back (top-level modules, and files: `src/store/incidents.rs` is `store::incidents`), and
//! nothing below the HTTP layer reaches up into `api` or `startup`.
//!
//! A module's imports are the `crate::`, `super::` and `self::` paths in its code, grouped
//! `use` trees included (comments and doc links are not imports). `main.rs` and `cli/` are the
//! binary and may use anything; the dev tools (`demo`, `bench`, `phone`, `admin_client`) start
//! or drive whole gateways and sit above `startup`.

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

/// Panics with the members of the first circle found: depth-first search with the path kept.
fn assert_no_circles(graph: &BTreeMap<String, BTreeSet<String>>) {
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
        visit(module, graph, &mut Vec::new(), &mut done);
    }
}

#[test]
fn top_level_modules_import_each_other_without_circles() {
    assert_no_circles(&imports());
}

/// The file's module path: `store/incidents.rs` is `store::incidents`, `store/mod.rs` is
/// `store`.
fn file_module(rel: &Path) -> String {
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts.join("::")
}

/// `text` without comments and without its `#[cfg(test)] mod tests { … }`: a test may use
/// what it tests from anywhere.
fn code_outside_tests(text: &str) -> String {
    let code: String = text
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = String::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("#[cfg(test)]") {
        let after = &rest[at + "#[cfg(test)]".len()..];
        out.push_str(&rest[..at]);
        if !after.trim_start().starts_with("mod tests") {
            out.push_str("#[cfg(test)]");
            rest = after;
            continue;
        }
        let Some(open) = after.find('{') else {
            rest = "";
            break;
        };
        let mut depth = 0;
        let mut end = after.len();
        for (i, c) in after[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                end = open + i + 1;
                break;
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// The paths a `use` tree (or a plain path) starting at `s` names, each as its segments after
/// `prefix`: `a::{b, c::{d, e as f}, self}` gives `a::b`, `a::c::d`, `a::c::e` and `a`.
/// Returns what follows the tree.
fn use_tree<'a>(mut s: &'a str, prefix: &[String], out: &mut Vec<Vec<String>>) -> &'a str {
    let mut path = prefix.to_vec();
    loop {
        s = s.trim_start();
        if let Some(group) = s.strip_prefix('{') {
            s = group;
            loop {
                s = use_tree(s, &path, out).trim_start();
                match s.strip_prefix(',') {
                    Some(next) if !next.trim_start().starts_with('}') => s = next,
                    Some(next) => return next.trim_start().strip_prefix('}').unwrap_or(next),
                    None => return s.strip_prefix('}').unwrap_or(s),
                }
            }
        }
        let len = s
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '*'))
            .unwrap_or(s.len());
        if len == 0 {
            break;
        }
        let segment = &s[..len];
        if segment != "self" && segment != "*" {
            path.push(segment.to_owned());
        }
        s = &s[len..];
        match s.strip_prefix("::") {
            Some(more) => s = more,
            None => break,
        }
    }
    out.push(path);
    // `path as alias`
    match s.trim_start().strip_prefix("as ") {
        Some(alias) => alias
            .trim_start()
            .trim_start_matches(|c: char| c.is_ascii_alphanumeric() || c == '_'),
        None => s,
    }
}

/// The module paths (from the crate root) that `code`, in module `module`, names through
/// `crate::`, `super::` and `self::`.
fn named_paths(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < code.len() {
        let rest = &code[at..];
        let Some(start) = ["crate::", "super::", "self::"]
            .iter()
            .filter_map(|k| rest.find(k))
            .min()
        else {
            break;
        };
        let begin = at + start;
        let before = code[..begin].chars().next_back();
        at = begin + 1;
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let mut s = &code[begin..];
        let mut base: Vec<String> = if let Some(r) = s.strip_prefix("crate::") {
            s = r;
            Vec::new()
        } else if let Some(r) = s.strip_prefix("self::") {
            s = r;
            module.to_vec()
        } else {
            s = &s["super::".len()..];
            module[..module.len().saturating_sub(1)].to_vec()
        };
        while let Some(r) = s.strip_prefix("super::") {
            s = r;
            base.pop();
        }
        use_tree(s, &base, &mut out);
    }
    out
}

/// File module -> the file modules its code imports. Naming one of its own ancestors (a store
/// file's `super::Tx`) is not an import: the parent declares its children, and they use what
/// it holds for all of them.
fn file_imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut modules = BTreeMap::new();
    for file in files {
        let module = file_module(file.strip_prefix(&src).unwrap());
        // The binary: its `crate::` is another crate.
        let top = module.split("::").next().unwrap_or_default();
        if ["main", "lib", "cli"].contains(&top) {
            continue;
        }
        modules.insert(module, file);
    }
    let mut graph = BTreeMap::new();
    for (module, file) in &modules {
        let code = code_outside_tests(&fs::read_to_string(file).unwrap());
        let segments: Vec<String> = module.split("::").map(str::to_owned).collect();
        let mut deps = BTreeSet::new();
        for path in named_paths(&code, &segments) {
            // The longest prefix of the path that is a file module.
            let Some(dep) = (1..=path.len())
                .rev()
                .map(|n| path[..n].join("::"))
                .find(|m| modules.contains_key(m))
            else {
                continue;
            };
            if dep != *module && !module.starts_with(&format!("{dep}::")) {
                deps.insert(dep);
            }
        }
        graph.insert(module.clone(), deps);
    }
    graph
}

#[test]
fn use_trees_name_every_path_in_them() {
    let module = ["web".to_owned(), "signin".to_owned()];
    let code = "use crate::{a, b::{c, d as e}, f::self};\nuse super::session::{self, X};\n\
                let x = super::super::top::f(); self::inner::g(); notcrate::h();";
    let paths: Vec<String> = named_paths(code, &module)
        .iter()
        .map(|p| p.join("::"))
        .collect();
    assert_eq!(
        paths,
        [
            "a",
            "b::c",
            "b::d",
            "f",
            "web::session",
            "web::session::X",
            "top::f",
            "web::signin::inner::g"
        ]
    );
    let code = code_outside_tests(
        "use crate::kept;\n// crate::comment\n#[cfg(test)]\nmod tests {\n    use crate::gone;\n    fn f() { }\n}\nuse crate::after;",
    );
    let paths: Vec<String> = named_paths(&code, &module)
        .iter()
        .map(|p| p.join("::"))
        .collect();
    assert_eq!(paths, ["kept", "after"]);
}

#[test]
fn files_import_each_other_without_circles() {
    let graph = file_imports();
    // The parser sees the imports it must: grouped `super::` trees and `self::` in a `mod.rs`.
    assert!(graph["store::tickets"].contains("store::waiting"));
    assert!(graph["web::csrf"].contains("web::session"));
    assert!(graph["engine"].contains("engine::dispatcher"));
    assert_no_circles(&graph);
}

/// `text` with its comments (line, doc and block comments) blanked out and everything else,
/// string literals included, kept in place, so that line numbers still match. Strings are
/// followed through escapes, raw strings and line continuations, so a `//` inside a URL is
/// not a comment, and a char literal (`'"'`) is not the start of a string.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == '"' {
            out.push(c);
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    out.push(chars[i]);
                    i += 1;
                }
                out.push(chars[i]);
                i += 1;
            }
            if i < chars.len() {
                out.push('"');
                i += 1;
            }
        } else if c == 'r'
            && (i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_'))
            && matches!(next, Some('"' | '#'))
        {
            // r"...", r#"..."#: the closing quote needs as many hashes as the opening one.
            let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
            if chars.get(i + 1 + hashes) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let close: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            let start = i;
            i += 2 + hashes;
            while i < chars.len() && !chars[i..].starts_with(&close) {
                i += 1;
            }
            i = (i + close.len()).min(chars.len());
            out.extend(&chars[start..i]);
        } else if c == '\'' && next == Some('\\') {
            // An escaped char literal: '\n', '\'', '\u{..}'.
            let end = chars[i + 2..]
                .iter()
                .position(|&q| q == '\'')
                .map_or(chars.len(), |p| i + 2 + p + 1);
            out.extend(&chars[i..end]);
            i = end;
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            out.extend(&chars[i..i + 3]);
            i += 3;
        } else {
            // Code, or a lifetime's quote.
            out.push(c);
            i += 1;
        }
    }
    out
}

#[test]
fn code_only_blanks_comments_and_keeps_strings() {
    let text = "let a = \"http://x\"; // SELECT 1\n/* UPDATE /* nested */ x */ let q = '\"';\n\
                let r = r#\"a \" // b\"#; /// DELETE FROM t\nlet s = \"SELECT \\\" 1\";";
    let code = code_only(text);
    assert_eq!(code.lines().count(), text.lines().count());
    assert!(code.contains("\"http://x\""), "{code}");
    assert!(code.contains("'\"'"), "{code}");
    assert!(code.contains("r#\"a \" // b\"#"), "{code}");
    assert!(code.contains("\"SELECT \\\" 1\""), "{code}");
    for comment in ["SELECT 1", "UPDATE", "nested", "DELETE FROM"] {
        assert!(!code.contains(comment), "{comment} left in {code}");
    }
}

/// SQL lives only in `src/store/` (its functions are named for what they do; the tests and
/// the bench call `store::devkit` for what they read or stage behind the gateway's back).
/// Everywhere else in `src/` (the binary's `main.rs` and `cli/` included) and in `tests/`,
/// code may neither name sqlx nor hold a statement. Comments may: prose says "update" and
/// docs name statements. Statements are recognised by their upper-case keywords, which no
/// other text here uses; lower-case words and the SQL-injection strings that hostile-input
/// tests send (`'; DROP TABLE ...`, data, not a statement run) are not matched. This file is
/// left out: it names the keywords it looks for.
#[test]
fn no_sql_outside_the_store() {
    const SQL: [&str; 7] = [
        "sqlx::",
        "SELECT ",
        "INSERT INTO",
        "UPDATE ",
        "DELETE FROM",
        "CREATE ",
        "PRAGMA ",
    ];
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    rust_files(&root.join("tests"), &mut files);
    let store = root.join("src").join("store");
    let this = root.join("tests").join("architecture.rs");
    let mut found = Vec::new();
    for file in files {
        if file.starts_with(&store) || file == this {
            continue;
        }
        let code = code_only(&fs::read_to_string(&file).unwrap());
        for (n, line) in code.lines().enumerate() {
            for needle in SQL.iter().filter(|needle| line.contains(*needle)) {
                found.push(format!(
                    "{}:{}: {needle:?} in {}",
                    file.strip_prefix(root).unwrap().display(),
                    n + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "SQL outside src/store/ (move it behind a store function, store::devkit for tests and \
         the bench):\n{}",
        found.join("\n")
    );
}

/// `code` (from [`code_only`]) with the inside of every string and char literal blanked, so
/// that a brace in a format string or a word in a span's name is not taken for code.
fn strings_blanked(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    let mut out = String::with_capacity(code.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            out.push_str("' '");
            i += 3;
        } else if c == '\'' && chars.get(i + 1) == Some(&'\\') {
            let end = chars[i + 2..]
                .iter()
                .position(|&q| q == '\'')
                .map_or(chars.len(), |p| i + 2 + p + 1);
            out.push('\'');
            out.extend(std::iter::repeat_n(' ', end - i - 2));
            out.push('\'');
            i = end;
        } else if c == '"' {
            out.push('"');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    out.push(' ');
                    i += 1;
                }
                out.push(if chars[i] == '\n' { '\n' } else { ' ' });
                i += 1;
            }
            if i < chars.len() {
                out.push('"');
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// An `async fn` of a file: its name, the attributes in front of it and its body.
struct AsyncFn {
    name: String,
    line: usize,
    attributes: String,
    body: String,
}

/// The `async fn`s of `text`, read from its code with comments and string contents blanked.
/// What stands in front of a function since the previous item ended (`}`, `;` or an opening
/// `{`) is its attributes.
fn async_fns(text: &str) -> Vec<AsyncFn> {
    let code = strings_blanked(&code_only(text));
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = code[from..].find("async fn ") {
        let start = from + at;
        from = start + "async fn ".len();
        let name: String = code[from..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let prelude_start = code[..start].rfind(['{', '}', ';']).map_or(0, |p| p + 1);
        let Some(open) = code[from..].find('{').map(|p| from + p) else {
            break;
        };
        let mut depth = 0;
        let mut end = code.len();
        for (i, c) in code[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        found.push(AsyncFn {
            name,
            line: code[..start].matches('\n').count() + 1,
            attributes: code[prelude_start..start].to_owned(),
            body: code[open..end].to_owned(),
        });
    }
    found
}

#[test]
fn async_fns_are_found_with_their_attributes_and_bodies() {
    let text = "impl A {\n    /// Sends.\n    #[tracing::instrument(name = \"a { send\", skip_all)]\n    \
                async fn send(&self) -> u8 {\n        let s = \"}\";\n        if x { self.http.send().await }\n    }\n\n    \
                async fn other(&self) {}\n}\n";
    let fns = async_fns(text);
    assert_eq!(fns.len(), 2);
    assert_eq!(fns[0].name, "send");
    assert_eq!(fns[0].line, 4);
    assert!(fns[0].attributes.contains("tracing::instrument("));
    assert!(fns[0].body.contains(".send()"), "{}", fns[0].body);
    assert_eq!(fns[1].name, "other");
    assert!(!fns[1].attributes.contains("instrument"));
}

/// The provider clients' code: push and the other channels, without the mocks that play the
/// providers in tests.
fn provider_client_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    rust_files(&root.join("src").join("push"), &mut files);
    rust_files(&root.join("src").join("channels"), &mut files);
    files.retain(|f| {
        !f.components().any(|c| c.as_os_str() == "mock")
            && f.file_name()
                .is_some_and(|n| n != "mock.rs" && n != "tests.rs")
    });
    files
}

/// Every request to a push or channel provider (an `async fn` that calls `.send(`: reqwest's
/// request or the SMTP transport's) runs in a span, so a slow or failing provider shows in the
/// traces next to the delivery that waited on it. `skip_all` keeps the arguments (device
/// tokens, addresses, messages) out of it; what the span names is checked below.
#[test]
fn every_provider_request_runs_in_a_span() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut requests = 0;
    let mut missing = Vec::new();
    for file in provider_client_files(root) {
        for f in async_fns(&fs::read_to_string(&file).unwrap()) {
            if !f.body.contains(".send(") {
                continue;
            }
            requests += 1;
            if !(f.attributes.contains("tracing::instrument(") && f.attributes.contains("skip_all"))
            {
                missing.push(format!(
                    "{}:{}: async fn {}",
                    file.strip_prefix(root).unwrap().display(),
                    f.line,
                    f.name
                ));
            }
        }
    }
    // APNs, FCM (its send and its OAuth token), Twilio, SMTP: a rule that finds fewer has
    // stopped reading the code.
    assert!(requests >= 5, "only {requests} provider requests found");
    assert!(
        missing.is_empty(),
        "provider requests without #[tracing::instrument(skip_all, ...)]:\n{}",
        missing.join("\n")
    );
}

/// Every span in `src/` skips its arguments (`skip_all`: an argument added later is not
/// recorded by accident) and names no secret or personal data among its fields: no token,
/// key material, password, phone number, e-mail address, message text or URL (which may carry
/// a device token). Span names and literal values are strings and not looked at.
#[test]
fn spans_skip_their_arguments_and_name_no_secret() {
    const NEVER: [&str; 15] = [
        "token", "secret", "password", "phone", "email", "address", "body", "payload", "url",
        "digest", "hash", "entered", "csrf", "text", "title",
    ];
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut spans = 0;
    let mut found = Vec::new();
    for file in files {
        let code = strings_blanked(&code_only(&fs::read_to_string(&file).unwrap()));
        let mut from = 0;
        while let Some(at) = code[from..].find("tracing::instrument(") {
            let start = from + at;
            from = start + 1;
            spans += 1;
            let end = code[start..].find(")]").map_or(code.len(), |p| start + p);
            let attribute = &code[start..end];
            let line = code[..start].matches('\n').count() + 1;
            let place = format!("{}:{line}", file.strip_prefix(root).unwrap().display());
            if !attribute.contains("skip_all") {
                found.push(format!("{place}: no skip_all"));
            }
            let lower = attribute.to_lowercase();
            for word in NEVER.iter().filter(|w| lower.contains(*w)) {
                found.push(format!("{place}: a field names {word:?}"));
            }
        }
    }
    assert!(spans >= 50, "only {spans} spans found");
    assert!(found.is_empty(), "spans:\n{}", found.join("\n"));
}
