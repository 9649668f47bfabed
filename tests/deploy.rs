//! The deployment kit says what the binary really does: the manifests parse, name the probes
//! and the port the gateway serves, carry placeholders instead of secrets, and their settings
//! are settings the gateway accepts.

mod support;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use panic_gateway::config::Settings;
use serde::Deserialize;
use serde_json::Value;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy");

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap()
}

fn documents(path: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(&read(path))
        .map(|doc| {
            let mut yaml = serde_norway::Value::deserialize(doc).expect("valid YAML");
            // Compose files share settings with `<<: *anchor` merge keys.
            yaml.apply_merge().expect("merge keys resolve");
            serde_json::to_value(yaml).expect("plain data")
        })
        .collect()
}

fn k8s() -> Vec<Value> {
    ["deployment.yaml", "configmap.yaml", "secret.example.yaml"]
        .iter()
        .flat_map(|f| documents(&format!("k8s/{f}")))
        .collect()
}

fn kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
}

#[test]
fn kubernetes_runs_two_replicas_probed_on_the_paths_and_port_the_gateway_serves() {
    let docs = k8s();
    let deployment = kind(&docs, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["ports"][0]["containerPort"], 8080);
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["readinessProbe"]["httpGet"]["port"], 8080);
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["livenessProbe"]["httpGet"]["port"], 8080);
    assert_eq!(
        deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"],
        true
    );
    assert_eq!(
        kind(&docs, "PodDisruptionBudget")["spec"]["minAvailable"],
        1
    );
    assert_eq!(
        kind(&docs, "Service")["spec"]["ports"][0]["targetPort"],
        "http"
    );

    // The ConfigMap's TOML is a configuration the gateway accepts, serving on that port.
    let toml = kind(&docs, "ConfigMap")["data"]["gateway.toml"]
        .as_str()
        .unwrap()
        .to_owned();
    let settings: Settings = Figment::from(Serialized::defaults(Settings::default()))
        .merge(Toml::string(&toml))
        .extract()
        .expect("the ConfigMap holds valid settings");
    assert_eq!(settings.server.port, 8080);
    assert_eq!(settings.server.host, "0.0.0.0");
    assert!(settings.push.apns.enabled && settings.push.fcm.enabled);
}

#[test]
fn kubernetes_scrapes_metrics_on_a_port_the_service_does_not_expose() {
    let docs = k8s();
    let deployment = kind(&docs, "Deployment");
    let template = &deployment["spec"]["template"];
    let container = &template["spec"]["containers"][0];
    let metrics_port = container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "metrics")
        .expect("a container port named metrics")["containerPort"]
        .as_u64()
        .unwrap();
    assert_ne!(metrics_port, 8080);
    let annotations = &template["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/port"], metrics_port.to_string());
    assert_eq!(annotations["prometheus.io/path"], "/metrics");

    // The gateway listens for the scrape on that port, so its main port answers 404 there.
    let toml = kind(&docs, "ConfigMap")["data"]["gateway.toml"]
        .as_str()
        .unwrap()
        .to_owned();
    let settings: Settings = Figment::from(Serialized::defaults(Settings::default()))
        .merge(Toml::string(&toml))
        .extract()
        .unwrap();
    let listen = settings.metrics.address().unwrap().expect("metrics.listen");
    assert_eq!(u64::from(listen.port()), metrics_port);
    assert!(
        listen.ip().is_unspecified(),
        "reachable by the in-cluster scraper"
    );

    // The Service routes the API only.
    let service = kind(&docs, "Service");
    for port in service["spec"]["ports"].as_array().unwrap() {
        assert_ne!(port["targetPort"], "metrics", "{port}");
        assert_ne!(port["targetPort"].as_u64(), Some(metrics_port), "{port}");
        assert_ne!(port["port"].as_u64(), Some(metrics_port), "{port}");
    }
}

#[test]
#[allow(clippy::result_large_err)] // figment's Jail closure returns figment::Error
fn compose_runs_two_gateways_on_postgres_with_settings_the_gateway_accepts() {
    let compose = documents("compose.yaml").remove(0);
    let services = compose["services"].as_object().unwrap();
    let gateways: Vec<&Value> = services
        .iter()
        .filter(|(name, _)| name.starts_with("gateway"))
        .map(|(_, s)| s)
        .collect();
    assert_eq!(gateways.len(), 2);
    assert!(services.contains_key("postgres"));
    for g in &gateways {
        let health = g["healthcheck"]["test"].to_string();
        assert!(health.contains("/readyz"), "{health}");
        assert!(g["ports"][0].as_str().unwrap().ends_with(":8080"));
        assert_eq!(g["depends_on"]["postgres"]["condition"], "service_healthy");
    }
    let env = gateways[0]["environment"].as_object().unwrap().clone();
    figment::Jail::expect_with(move |jail| {
        for (k, v) in &env {
            jail.set_env(k, v.as_str().unwrap());
        }
        let settings: Settings = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Env::prefixed("PANIC_GATEWAY__").split("__"))
            .extract()?;
        assert_eq!(settings.server.port, 8080);
        assert!(settings.database.url.starts_with("postgres://"));
        assert_eq!(settings.auth.jwt_secret_file, "/run/secrets/jwt_secret");
        Ok(())
    });
}

#[test]
fn the_kit_carries_placeholders_not_secrets() {
    let secret = k8s().into_iter().find(|d| d["kind"] == "Secret").unwrap();
    for (key, value) in secret["stringData"].as_object().unwrap() {
        assert!(
            value.as_str().unwrap().contains("CHANGE_ME"),
            "{key} must be a placeholder"
        );
    }
    // And the gateway refuses to sign with the signing-secret placeholder.
    let jwt = secret["stringData"]["jwt_secret"].as_str().unwrap();
    assert!(panic_gateway::auth::parse_secret(jwt)
        .unwrap_err()
        .contains("placeholder"));
    for file in [
        "Dockerfile",
        "compose.yaml",
        "k8s/deployment.yaml",
        "k8s/configmap.yaml",
        "k8s/secret.example.yaml",
        "systemd/panic-gateway.service",
        "config/gateway.example.toml",
    ] {
        let text = read(file);
        assert!(!text.contains("-----BEGIN"), "{file} contains a key");
        assert!(!text.contains("pgw_admin_"), "{file} contains an admin key");
    }
}

/// Production builds leave out the developer kit (mock providers, demo, bench, simulated
/// phones: tests/production_build.rs shows what that removes). The k8s Deployment and compose
/// run the Dockerfile's image, so the Dockerfile and the unit's build line are what to check.
#[test]
fn the_image_and_the_unit_are_built_without_the_developer_kit() {
    let docker = read("Dockerfile");
    let builds: Vec<&str> = docker
        .lines()
        .filter(|line| line.contains("cargo build"))
        .collect();
    assert!(!builds.is_empty(), "the Dockerfile builds the gateway");
    for line in builds {
        assert!(line.contains("--no-default-features"), "{line}");
        assert!(!line.contains("--features"), "{line}");
        assert!(!line.contains("--all-features"), "{line}");
    }
    let unit = read("systemd/panic-gateway.service");
    assert!(
        unit.lines()
            .any(|line| line.contains("cargo build") && line.contains("--no-default-features")),
        "the unit says how to build its binary without the kit"
    );
    // The orchestrated deployments run that image.
    let compose = documents("compose.yaml").remove(0);
    assert_eq!(
        compose["x-gateway"]["build"]["dockerfile"],
        "deploy/Dockerfile"
    );
    assert!(read("k8s/deployment.yaml").contains("Built from deploy/Dockerfile"));
}

#[test]
fn the_image_runs_as_a_user_and_the_unit_is_hardened() {
    let docker = read("Dockerfile");
    assert!(docker.contains("USER 10001"));
    assert!(docker.contains("EXPOSE 8080"));
    assert!(docker.contains("PANIC_GATEWAY__SERVER__PORT=8080"));
    assert!(docker.matches("FROM ").count() >= 2, "multi-stage");
    let unit = read("systemd/panic-gateway.service");
    for option in [
        "DynamicUser=yes",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "StateDirectory=panic-gateway",
        "CapabilityBoundingSet=",
    ] {
        assert!(unit.contains(option), "the unit lacks {option}");
    }
}

on_both_backends!(the_probed_paths_answer);

async fn the_probed_paths_answer(backend: support::TestBackend) {
    let app = support::spawn_app(backend).await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.get("/readyz").await.status(), 200);
}
