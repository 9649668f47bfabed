//! `panic-gateway apply -f org.toml` and `panic-gateway export`: configuration as code against
//! a gateway's admin API (`--url`, the key from `PANIC_GATEWAY_ADMIN_KEY`), in every build.
//!
//! The gateway plans, checks and applies (see `api::configuration`); this side only turns the
//! TOML file into the JSON document, prints the plan, and maps a refusal's JSON paths
//! (`document.policies[1].steps[0].targets`) back to lines of the file, keeping the spans
//! `toml_edit` parsed.

use std::ops::Range;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde_json::{json, Map, Value};
use toml_edit::{ImDocument, Item, Table};

/// Where the gateway is and the admin key to use.
#[derive(Args)]
pub struct Remote {
    /// The gateway's base URL, e.g. https://gateway.example.com.
    #[arg(long, env = "PANIC_GATEWAY_URL")]
    pub url: String,
    /// An admin API key (scope `admin`).
    #[arg(
        long = "admin-key",
        env = "PANIC_GATEWAY_ADMIN_KEY",
        hide_env_values = true
    )]
    pub admin_key: String,
}

#[derive(Args)]
pub struct ApplyArgs {
    /// The organisation file (TOML), e.g. deploy/examples/org.toml.
    #[arg(short = 'f', long = "file")]
    pub file: PathBuf,
    /// Print the plan and the checks' verdict; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Remove schedules, teams and policies that the file does not have (and disable webhook
    /// endpoints it does not have).
    #[arg(long)]
    pub prune: bool,
    #[command(flatten)]
    pub remote: Remote,
}

#[derive(Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub remote: Remote,
}

fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()?)
}

fn endpoint(remote: &Remote) -> String {
    format!(
        "{}/v1/admin/configuration",
        remote.url.trim_end_matches('/')
    )
}

/// Prints the plan; a refusal is printed as `file:LINE: path: reason` lines and fails.
pub async fn apply(args: ApplyArgs) -> anyhow::Result<()> {
    let source = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let name = args.file.display().to_string();
    let parsed = ImDocument::parse(source.clone()).map_err(|e| {
        let line = e.span().map_or(0, |s| line_of(&source, s.start));
        anyhow::anyhow!("{name}:{line}: {}", e.message())
    })?;
    let mut document = table_json(parsed.as_table());
    let refusals = webhook_secrets(&mut document, |var| std::env::var(var).ok());
    if !refusals.is_empty() {
        for (path, reason) in &refusals {
            let line = span_of(parsed.as_table(), path).map_or(0, |s| line_of(&source, s.start));
            eprintln!("{name}:{line}: {path}: {reason}");
        }
        anyhow::bail!("{name} refused: nothing was sent, nothing was changed");
    }
    let res = client()?
        .post(endpoint(&args.remote))
        .bearer_auth(&args.remote.admin_key)
        .json(&json!({
            "document": document,
            "dry_run": args.dry_run,
            "prune": args.prune,
        }))
        .send()
        .await
        .context("the gateway is not reachable")?;
    let status = res.status();
    let answer: Value = res.json().await.unwrap_or_default();
    if status.is_success() {
        let plan = answer["plan"].as_array().cloned().unwrap_or_default();
        if plan.is_empty() {
            println!("No changes: the gateway matches {name}.");
        }
        for line in plan {
            println!("{}", line.as_str().unwrap_or_default());
        }
        if args.dry_run && answer["changes"].as_array().is_some_and(|c| !c.is_empty()) {
            println!("Dry run: nothing applied.");
        }
        for s in answer["secrets"].as_array().into_iter().flatten() {
            println!(
                "Signing secret of the new webhook {} (shown once; give it to the receiver): {}",
                s["url"].as_str().unwrap_or_default(),
                s["secret"].as_str().unwrap_or_default()
            );
        }
        return Ok(());
    }
    let errors = answer["errors"].as_array().cloned().unwrap_or_default();
    if errors.is_empty() {
        anyhow::bail!(
            "the gateway answered {status}: {}",
            answer["detail"].as_str().unwrap_or("no detail")
        );
    }
    for e in &errors {
        let field = e["field"].as_str().unwrap_or_default();
        let mut path = field.strip_prefix("document.").unwrap_or(field).to_owned();
        if path.starts_with("webhooks[") && path.ends_with(".secret") {
            // The secret came from the variable the file names.
            path.push_str("_env");
        }
        let path = path.as_str();
        let line = span_of(parsed.as_table(), path).map_or(0, |s| line_of(&source, s.start));
        eprintln!(
            "{name}:{line}: {path}: {}",
            e["detail"].as_str().unwrap_or_default()
        );
    }
    anyhow::bail!("{name} refused ({status}): nothing was changed")
}

/// Prints the gateway's organisation as TOML, in the format `apply` reads.
pub async fn export(args: ExportArgs) -> anyhow::Result<()> {
    let res = client()?
        .get(endpoint(&args.remote))
        .bearer_auth(&args.remote.admin_key)
        .send()
        .await
        .context("the gateway is not reachable")?;
    let status = res.status();
    let answer: Value = res.json().await.unwrap_or_default();
    anyhow::ensure!(
        status.is_success(),
        "the gateway answered {status}: {}",
        answer["detail"].as_str().unwrap_or("no detail")
    );
    // Sections in the document's order (a JSON object's keys come back sorted).
    let mut sections = Vec::new();
    for key in [
        "tiers",
        "users",
        "customers",
        "schedules",
        "teams",
        "policies",
        "webhooks",
    ] {
        if let Some(section) = answer.get(key) {
            let mut text = toml::to_string_pretty(&json!({ key: section }))?;
            if key == "webhooks" {
                text.insert_str(0, WEBHOOK_SECRETS_NOTE);
            }
            sections.push(text);
        }
    }
    print!("{}", sections.join("\n"));
    Ok(())
}

const WEBHOOK_SECRETS_NOTE: &str = "\
# Signing secrets are not exported: without `secret_env` an endpoint keeps its secret (a new
# one gets a generated secret, printed once). To set one, add e.g.
# secret_env = \"HELPDESK_WEBHOOK_SECRET\" naming an environment variable that holds it.
";

/// Replaces each webhook's `secret_env` with the `secret` the variable holds; a path and a
/// reason for each variable that is missing or empty, and for a secret written in the file.
fn webhook_secrets(
    document: &mut Value,
    var: impl Fn(&str) -> Option<String>,
) -> Vec<(String, String)> {
    let mut refusals = Vec::new();
    let Some(webhooks) = document.get_mut("webhooks").and_then(Value::as_array_mut) else {
        return refusals;
    };
    for (i, w) in webhooks.iter_mut().enumerate() {
        let Some(w) = w.as_object_mut() else { continue };
        if w.contains_key("secret") {
            refusals.push((
                format!("webhooks[{i}].secret"),
                "a secret does not belong in the file: name an environment variable that \
                 holds it with secret_env"
                    .to_owned(),
            ));
            w.remove("secret");
        }
        let Some(name) = w.remove("secret_env") else {
            continue;
        };
        let path = format!("webhooks[{i}].secret_env");
        match name.as_str() {
            Some(name) if !name.is_empty() => match var(name).filter(|v| !v.is_empty()) {
                Some(secret) => {
                    w.insert("secret".to_owned(), Value::String(secret));
                }
                None => refusals.push((
                    path,
                    format!("the environment variable {name} is not set or empty"),
                )),
            },
            _ => refusals.push((path, "must name an environment variable".to_owned())),
        }
    }
    refusals
}

fn table_json(t: &Table) -> Value {
    Value::Object(
        t.iter()
            .map(|(k, i)| (k.to_owned(), item_json(i)))
            .collect(),
    )
}

fn item_json(item: &Item) -> Value {
    match item {
        Item::None => Value::Null,
        Item::Value(v) => value_json(v),
        Item::Table(t) => table_json(t),
        Item::ArrayOfTables(a) => Value::Array(a.iter().map(table_json).collect()),
    }
}

fn value_json(v: &toml_edit::Value) -> Value {
    use toml_edit::Value as V;
    match v {
        V::String(s) => json!(s.value()),
        V::Integer(i) => json!(i.value()),
        V::Float(f) => json!(f.value()),
        V::Boolean(b) => json!(b.value()),
        // Dates and times travel as the text the API parses ("2026-01-05", "09:00:00").
        V::Datetime(d) => json!(d.value().to_string()),
        V::Array(a) => Value::Array(a.iter().map(value_json).collect()),
        V::InlineTable(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.to_owned(), value_json(v)))
                .collect::<Map<_, _>>(),
        ),
    }
}

enum Node<'a> {
    Table(&'a Table),
    Inline(&'a toml_edit::InlineTable),
    Tables(&'a toml_edit::ArrayOfTables),
    Array(&'a toml_edit::Array),
    Leaf,
}

fn item_node(item: &Item) -> Node<'_> {
    match item {
        Item::Table(t) => Node::Table(t),
        Item::ArrayOfTables(a) => Node::Tables(a),
        Item::Value(v) => value_node(v),
        Item::None => Node::Leaf,
    }
}

fn value_node(v: &toml_edit::Value) -> Node<'_> {
    match v {
        toml_edit::Value::InlineTable(t) => Node::Inline(t),
        toml_edit::Value::Array(a) => Node::Array(a),
        _ => Node::Leaf,
    }
}

/// The span of the deepest part of `path` (`policies[1].steps[0].timeout`) the file has.
fn span_of(root: &Table, path: &str) -> Option<Range<usize>> {
    let mut best = None;
    let mut node = Node::Table(root);
    for segment in path.split('.') {
        let (key, indexes) = match segment.find('[') {
            Some(i) => (&segment[..i], &segment[i..]),
            None => (segment, ""),
        };
        if !key.is_empty() {
            node = match node {
                Node::Table(t) => {
                    best = t.key(key).and_then(|k| k.span()).or(best);
                    match t.get(key) {
                        Some(item) => item_node(item),
                        None => return best,
                    }
                }
                Node::Inline(t) => {
                    best = t.key(key).and_then(|k| k.span()).or(best);
                    match t.get(key) {
                        Some(v) => value_node(v),
                        None => return best,
                    }
                }
                _ => return best,
            };
        }
        for index in indexes
            .split(['[', ']'])
            .filter(|s| !s.is_empty())
            .filter_map(|s| s.parse::<usize>().ok())
        {
            node = match node {
                Node::Tables(a) => match a.get(index) {
                    Some(t) => {
                        best = t.span().or(best);
                        Node::Table(t)
                    }
                    None => return best,
                },
                Node::Array(a) => match a.get(index) {
                    Some(v) => {
                        best = v.span().or(best);
                        value_node(v)
                    }
                    None => return best,
                },
                _ => return best,
            };
        }
    }
    best
}

fn line_of(source: &str, offset: usize) -> usize {
    source[..offset.min(source.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"[[users]]
email = "ana@example.com"
name = "Ana"
role = "responder"

[[policies]]
name = "Gold"
tier = "gold"

[[policies.steps]]
ack_timeout_minutes = 5
targets = [{ type = "account_manager" }]

[[policies.steps]]
ack_timeout_minutes = 90
targets = [
  { type = "support_managers" },
  { type = "user", email = "nobody@example.com" },
]
"#;

    fn line(path: &str) -> usize {
        let doc = ImDocument::parse(FILE.to_owned()).unwrap();
        line_of(FILE, span_of(doc.as_table(), path).unwrap().start)
    }

    #[test]
    fn paths_map_to_the_lines_that_hold_them() {
        assert_eq!(line("users[0].role"), 4);
        assert_eq!(line("policies[0].steps[1].ack_timeout_minutes"), 15);
        assert_eq!(line("policies[0].steps[1].targets[1].email"), 18);
        // The deepest part that exists: the second step.
        assert_eq!(line("policies[0].steps[1].nothing"), 14);
        assert_eq!(line("policies[0].steps"), 10);
    }

    #[test]
    fn secret_env_is_read_and_a_missing_variable_refused() {
        let mut doc = json!({"webhooks": [
            {"url": "https://a.example.com", "secret_env": "A"},
            {"url": "https://b.example.com", "secret_env": "B"},
            {"url": "https://c.example.com"},
        ]});
        let refusals = webhook_secrets(&mut doc, |v| (v == "A").then(|| "s3cret".to_owned()));
        assert_eq!(doc["webhooks"][0]["secret"], "s3cret");
        assert!(doc["webhooks"][0].get("secret_env").is_none());
        assert_eq!(refusals.len(), 1);
        assert_eq!(refusals[0].0, "webhooks[1].secret_env");
        assert!(doc["webhooks"][2].get("secret").is_none());
    }

    #[test]
    fn toml_becomes_the_json_document() {
        let doc = ImDocument::parse(FILE.to_owned()).unwrap();
        let v = table_json(doc.as_table());
        assert_eq!(v["policies"][0]["steps"][1]["ack_timeout_minutes"], 90);
        assert_eq!(
            v["policies"][0]["steps"][0]["targets"][0]["type"],
            "account_manager"
        );
    }
}
