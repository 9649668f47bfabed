//! The production build (`--no-default-features`, as deploy/Dockerfile builds it) carries no
//! developer kit: no certificate generator, no RSA key generation, no HTTP/2 server for mock
//! providers. Read from `cargo tree`, so the proof costs no second build; that the `demo`,
//! `bench` and `simulate` commands are gone too is the unit test in `src/main.rs`, which CI
//! also runs without default features.

use std::process::Command;

/// `cargo tree` of the production build (or the default one), one `name version` (or
/// feature) line per node.
fn tree(production: bool, edges: &str) -> String {
    let mut command = Command::new(env!("CARGO"));
    command.args(["tree", "--offline", "--locked"]);
    if production {
        command.arg("--no-default-features");
    }
    let out = command
        .args(["--edges", edges, "--prefix", "none", "--manifest-path"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn has_crate(tree: &str, name: &str) -> bool {
    tree.lines()
        .any(|line| line.split_whitespace().next() == Some(name))
}

#[test]
fn the_production_build_has_no_developer_kit_crates() {
    let production = tree(true, "normal");
    assert!(
        has_crate(&production, "panic-gateway"),
        "the tree lists the gateway:\n{production}"
    );
    for kit in ["rcgen", "rsa"] {
        assert!(
            !has_crate(&production, kit),
            "{kit} is in the production build"
        );
    }
    // The default build does have them, so the check above would see them.
    assert!(has_crate(&tree(false, "normal"), "rcgen"));
}

#[test]
fn the_production_build_serves_no_http_but_its_own() {
    // reqwest needs hyper's client; only the mock providers needed its server.
    let production = tree(true, "normal,features");
    for server in [
        r#"hyper feature "server""#,
        r#"hyper-util feature "server""#,
    ] {
        assert!(
            !production.contains(server),
            "{server} is in the production build"
        );
    }
}
