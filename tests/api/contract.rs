//! The OpenAPI contract (`api-spec/openapi.yaml`) and the server agree on every route: a route
//! in the code but not in the spec, or the reverse, fails here. Routes are read from the
//! actix route macros in `src/api/`, which always carry full paths.

use std::collections::BTreeSet;

use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn spec() -> Value {
    let text = std::fs::read_to_string(format!("{ROOT}/api-spec/openapi.yaml")).unwrap();
    serde_norway::from_str(&text).expect("the spec is valid YAML")
}

fn spec_routes(spec: &Value) -> BTreeSet<(String, String)> {
    spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect()
}

fn server_routes() -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for entry in std::fs::read_dir(format!("{ROOT}/src/api")).unwrap() {
        let source = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in source.lines().map(str::trim) {
            for method in METHODS {
                if let Some(rest) = line.strip_prefix(&format!("#[{method}(\"")) {
                    let path = rest.split('"').next().unwrap();
                    routes.insert((method.to_uppercase(), path.to_owned()));
                }
            }
        }
    }
    routes
}

#[test]
fn every_server_route_is_in_the_spec_and_every_spec_route_is_served() {
    let spec = spec_routes(&spec());
    let server = server_routes();
    assert!(server.len() > 40, "routes were found: {server:?}");
    let undocumented: Vec<_> = server.difference(&spec).collect();
    let unserved: Vec<_> = spec.difference(&server).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "in the server but not the spec: {undocumented:?}\nin the spec but not the server: {unserved:?}"
    );
}

fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                match (k.as_str(), child) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => refs(child, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| refs(i, out)),
        _ => {}
    }
}

#[test]
fn the_spec_is_openapi_3_1_and_every_reference_resolves() {
    let spec = spec();
    assert_eq!(spec["openapi"], "3.1.0");
    let mut found = Vec::new();
    refs(&spec, &mut found);
    assert!(found.len() > 50);
    for r in found {
        let pointer = r.strip_prefix('#').expect("local references only");
        assert!(spec.pointer(pointer).is_some(), "{r} does not resolve");
    }
    // Every operation names its errors as problems and has an id.
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            assert!(
                op["operationId"].is_string(),
                "{method} {path} has no operationId"
            );
            assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()));
        }
    }
    let alerts = &spec["paths"]["/v1/alerts"]["post"]["parameters"][0]["$ref"];
    assert_eq!(alerts, "#/components/parameters/IdempotencyKey");
}
