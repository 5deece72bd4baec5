//! The deployment files in `deploy/` and the `Dockerfile`, checked against the binary they
//! deploy: the systemd unit passes `systemd-analyze verify`; the Kubernetes manifests' ports,
//! probes and mounts agree with each other and with the config they carry, and that config,
//! run by the real `pushgate`, answers the probes the Deployment declares.

use std::{path::PathBuf, process::Command};

use pushgate_proxy::config::Config;
use pushgate_tests::{
    binary, free_port, health_at,
    process::{pushgate, start_process},
    temp_dir,
};
use tonic_health::pb::health_check_response::ServingStatus;
use yaml_rust2::{Yaml, YamlLoader};

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml(path: &str) -> Yaml {
    let mut docs = YamlLoader::load_from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(docs.len(), 1, "{path}: one document");
    docs.remove(0)
}

/// The port of a Go-style listen address (`:8086`, `0.0.0.0:8086`).
fn port_of(address: &str) -> i64 {
    address.rsplit(':').next().unwrap().parse().unwrap()
}

#[test]
#[cfg_attr(
    missing_systemd_analyze,
    ignore = "needs systemd-analyze (Debian package systemd)"
)]
fn the_systemd_unit_verifies_and_is_hardened() {
    let unit = read("deploy/systemd/pushgate.service");
    for line in [
        "DynamicUser=yes",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "CapabilityBoundingSet=",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "ExecStart=/usr/local/bin/pushgate --config /etc/pushgate/pushgate.json",
    ] {
        assert!(unit.lines().any(|l| l == line), "the unit has {line}");
    }
    // Its config parses, and its credential paths are where LoadCredential puts them.
    let config = Config::parse(read("deploy/systemd/pushgate.json").as_bytes()).unwrap();
    assert_eq!(
        config.targets.apple[0].auth_key_file,
        "/run/credentials/pushgate.service/AuthKey.p8"
    );
    assert!(unit.contains("LoadCredential=AuthKey.p8:"));
    assert!(unit.contains("LoadCredential=service-account.json:"));

    // `verify` checks that ExecStart's binary exists: point it at the one built here.
    let dir = temp_dir("systemd");
    let copy = dir.join("pushgate.service");
    let exec = format!(
        "ExecStart={} --config /etc/pushgate/pushgate.json",
        binary("pushgate").display()
    );
    std::fs::write(
        &copy,
        unit.replace(
            "ExecStart=/usr/local/bin/pushgate --config /etc/pushgate/pushgate.json",
            &exec,
        ),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&copy)
        .output()
        .expect("systemd-analyze runs (Debian package systemd; .ci/run installs it)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Lines about other units of the machine (it may not run systemd at all) are not ours.
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("pushgate.service"))
        .collect();
    assert!(
        out.status.success() && ours.is_empty(),
        "systemd-analyze verify: {}\n{stderr}",
        out.status
    );
}

#[tokio::test]
async fn the_kubernetes_manifests_agree_with_the_binary() {
    let configmap = yaml("deploy/kubernetes/configmap.yaml");
    let deployment = yaml("deploy/kubernetes/deployment.yaml");
    let service = yaml("deploy/kubernetes/service.yaml");
    let pdb = yaml("deploy/kubernetes/poddisruptionbudget.yaml");
    let kustomization = yaml("deploy/kubernetes/kustomization.yaml");

    let config_text = configmap["data"]["pushgate.json"].as_str().unwrap();
    let config = Config::parse(config_text.as_bytes()).unwrap();
    let http = port_of(&config.listeners.http);
    let grpc = port_of(&config.listeners.grpc);

    let pod = &deployment["spec"]["template"];
    let container = &pod["spec"]["containers"][0];
    let port = |name: &str| {
        container["ports"]
            .as_vec()
            .unwrap()
            .iter()
            .find(|p| p["name"].as_str() == Some(name))
            .and_then(|p| p["containerPort"].as_i64())
            .unwrap_or_else(|| panic!("a container port named {name}"))
    };
    assert_eq!(port("http"), http);
    assert_eq!(port("grpc"), grpc);
    let readiness = &container["readinessProbe"]["grpc"];
    let liveness = &container["livenessProbe"]["grpc"];
    assert_eq!(readiness["port"].as_i64(), Some(grpc));
    assert_eq!(liveness["port"].as_i64(), Some(grpc));
    assert_eq!(readiness["service"].as_str(), Some("pushgate.v1.PushProxy"));

    // Prometheus scrapes the HTTP port, where EnableMetrics serves /metrics.
    let annotations = &pod["metadata"]["annotations"];
    assert!(config.enable_metrics);
    assert_eq!(
        annotations["prometheus.io/port"].as_str(),
        Some(&*http.to_string())
    );
    assert_eq!(annotations["prometheus.io/path"].as_str(), Some("/metrics"));

    // Non-root, read-only, nothing to escalate to.
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(security["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(
        pod["spec"]["securityContext"]["runAsNonRoot"].as_bool(),
        Some(true)
    );

    // The pod outlives a drain: DrainGraceSec, then up to SendTimeoutSec for what is in flight.
    let grace = pod["spec"]["terminationGracePeriodSeconds"]
        .as_i64()
        .unwrap();
    let needed = config.listeners.drain_grace + config.delivery.send_timeout;
    assert!(grace as u64 > needed.as_secs(), "{grace} s ≥ {needed:?}");

    // The config is mounted where the args say, credentials where the config looks.
    let args: Vec<&str> = container["args"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let mounts = container["volumeMounts"].as_vec().unwrap();
    let mounted = |path: &str| {
        mounts
            .iter()
            .any(|m| path.starts_with(m["mountPath"].as_str().unwrap()))
    };
    assert_eq!(args[0], "--config");
    assert!(mounted(args[1]), "{} is mounted", args[1]);
    assert!(mounted(&config.targets.apple[0].auth_key_file));
    assert!(mounted(&config.targets.android[0].service_file_location));

    // The Service and the budget select the pods; the Service carries both ports.
    let labels = &pod["metadata"]["labels"];
    for selector in [
        &service["spec"]["selector"],
        &pdb["spec"]["selector"]["matchLabels"],
    ] {
        for (k, v) in selector.as_hash().unwrap() {
            assert_eq!(&labels[k.as_str().unwrap()], v);
        }
    }
    let service_ports: Vec<&str> = service["spec"]["ports"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|p| p["targetPort"].as_str().unwrap())
        .collect();
    assert_eq!(service_ports, ["http", "grpc"]);
    let resources: Vec<&str> = kustomization["resources"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    for file in [
        "configmap.yaml",
        "deployment.yaml",
        "service.yaml",
        "poddisruptionbudget.yaml",
    ] {
        assert!(resources.contains(&file), "kustomization lists {file}");
    }

    // The ConfigMap's config, run (on free ports, without its credentials, which only the
    // Secret has): the probes the Deployment declares answer SERVING.
    let (http_port, grpc_port) = (free_port(), free_port());
    let mut json: serde_json::Value = serde_json::from_str(config_text).unwrap();
    json["ListenAddress"] = format!("127.0.0.1:{http_port}").into();
    json["GrpcListenAddress"] = format!("127.0.0.1:{grpc_port}").into();
    let path = temp_dir("k8s").join("pushgate.json");
    std::fs::write(&path, json.to_string()).unwrap();
    let (_process, _) = start_process(&mut pushgate(&path), http_port).await;
    let addr = format!("127.0.0.1:{grpc_port}");
    for probe in [liveness, readiness] {
        let service = probe["service"].as_str().unwrap_or("");
        assert_eq!(
            health_at(&addr, service).await,
            Some(ServingStatus::Serving),
            "the probe of {service:?}"
        );
    }
}

#[test]
fn the_dockerfile_uses_the_ci_build_command_and_runs_unprivileged() {
    // No container engine runs on the CI machine: the image's build command is the one CI
    // and the README run (`cargo … --release -p pushgate-proxy`), so what CI proves holds for it.
    let dockerfile = read("Dockerfile");
    let ci = read(".ci/run");
    assert!(
        dockerfile.contains("RUN cargo build --release --locked -p pushgate-proxy --bin pushgate")
    );
    assert!(ci.contains("cargo run --release -p pushgate-proxy"));
    assert!(dockerfile.contains("USER 65532:65532"));
    let defaults = Config::parse(b"{}").unwrap();
    let expose = format!(
        "EXPOSE {} {}",
        port_of(&defaults.listeners.http),
        port_of(&defaults.listeners.grpc)
    );
    assert!(dockerfile.lines().any(|l| l == expose), "{expose}");
    let deployment = read("deploy/kubernetes/deployment.yaml");
    assert!(
        deployment.contains("runAsUser: 65532"),
        "the same non-root user"
    );
}
