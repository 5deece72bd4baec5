//! Inbound TLS and mutual TLS on both listeners: handshakes accepted and refused.

use pushgate::v1::{push_proxy_client::PushProxyClient, PushNotification, SendPushRequest, Status};
use pushgate_tests::{dry_run_config, start, temp_dir};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

struct Pki {
    ca_pem: String,
    server: (String, String),
    client: (String, String),
    stranger: (String, String),
}

fn ca() -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn leaf(issuer: &CertifiedIssuer<'static, KeyPair>, names: &[&str]) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let cert = CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, issuer)
        .unwrap();
    (cert.pem(), key.serialize_pem())
}

fn pki() -> Pki {
    let ours = ca();
    let theirs = ca();
    Pki {
        ca_pem: ours.pem(),
        server: leaf(&ours, &["127.0.0.1", "localhost"]),
        client: leaf(&ours, &["mattermost-server"]),
        stranger: leaf(&theirs, &["intruder"]),
    }
}

fn tls_config(pki: &Pki, mutual: bool) -> pushgate_proxy::config::Config {
    let dir = temp_dir("tls");
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    };
    let mut config = dry_run_config();
    config.listeners.tls.cert_file = write("server.pem", &pki.server.0);
    config.listeners.tls.key_file = write("server.key", &pki.server.1);
    if mutual {
        config.listeners.tls.client_ca_file = write("ca.pem", &pki.ca_pem);
    }
    config
}

async fn grpc_push(
    addr: std::net::SocketAddr,
    pki: &Pki,
    identity: Option<&(String, String)>,
) -> Result<Status, String> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&pki.ca_pem))
        .domain_name("127.0.0.1");
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    let channel = Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let answer = PushProxyClient::new(channel)
        .send_push(SendPushRequest {
            notification: Some(PushNotification {
                platform: "apple_rn".into(),
                server_id: "s".into(),
                device_id: "d".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .map_err(|e| e.to_string())?;
    Ok(answer.into_inner().status())
}

async fn https_get(
    addr: std::net::SocketAddr,
    pki: &Pki,
    identity: Option<&(String, String)>,
) -> Result<u16, String> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap());
    if let Some((cert, key)) = identity {
        builder = builder
            .identity(reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap());
    }
    let r = builder
        .build()
        .unwrap()
        .get(format!("https://{addr}/healthz"))
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(r.status().as_u16())
}

#[tokio::test]
async fn tls_serves_both_listeners_and_refuses_plaintext() {
    let pki = pki();
    let running = start(&tls_config(&pki, false)).await;
    assert_eq!(
        grpc_push(running.grpc_addr, &pki, None).await,
        Ok(Status::Ok)
    );
    assert_eq!(https_get(running.http_addr, &pki, None).await, Ok(200));
    let plain = reqwest::get(format!("http://{}/healthz", running.http_addr)).await;
    assert!(
        plain.is_err() || plain.unwrap().status() != 200,
        "plaintext HTTP is refused"
    );
    running.shutdown().await;
}

#[tokio::test]
async fn mutual_tls_accepts_our_clients_and_refuses_others() {
    let pki = pki();
    let running = start(&tls_config(&pki, true)).await;
    assert_eq!(
        grpc_push(running.grpc_addr, &pki, Some(&pki.client)).await,
        Ok(Status::Ok)
    );
    assert_eq!(
        https_get(running.http_addr, &pki, Some(&pki.client)).await,
        Ok(200)
    );

    assert!(
        grpc_push(running.grpc_addr, &pki, None).await.is_err(),
        "no client certificate"
    );
    assert!(
        grpc_push(running.grpc_addr, &pki, Some(&pki.stranger))
            .await
            .is_err(),
        "certificate from another CA"
    );
    assert!(https_get(running.http_addr, &pki, None).await.is_err());
    assert!(https_get(running.http_addr, &pki, Some(&pki.stranger))
        .await
        .is_err());

    // Refused handshakes do not disturb the listener.
    assert_eq!(
        https_get(running.http_addr, &pki, Some(&pki.client)).await,
        Ok(200)
    );
    running.shutdown().await;
}

/// A bridge (or the plugin) and pushgate that disagree on TLS get a FAIL that names the fix, not
/// "transport error" or "received corrupt message of type InvalidContentType".
#[tokio::test]
async fn a_tls_mismatch_is_named_with_its_fix() {
    use pushgate_bridge::{tls_mismatch, Backend, GrpcBackend};
    use std::time::Duration;
    let pki = pushgate_tests::pki::Pki::write(&temp_dir("mismatch"));
    let mut config = dry_run_config();
    pki.serve(&mut config, false);
    let tls_pushgate = start(&config).await;
    let plaintext_pushgate = start(&dry_run_config()).await;

    let plaintext_client = GrpcBackend::new(
        &format!("http://{}", tls_pushgate.grpc_addr),
        Duration::from_secs(3),
        None,
    )
    .unwrap();
    let error = plaintext_client
        .send_push(pushgate_tests::push("apple_rn", "a1b2"))
        .await
        .unwrap_err();
    let authority = tls_pushgate.grpc_addr.to_string();
    assert_eq!(error.message(), tls_mismatch::speaks_tls_text(&authority));
    assert!(error.message().contains("turn on Use TLS"));

    let authority = plaintext_pushgate.grpc_addr.to_string();
    let channel = Endpoint::from_shared(format!("https://{authority}"))
        .unwrap()
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(std::fs::read(&pki.ca).unwrap()))
                .domain_name("localhost"),
        )
        .unwrap()
        .connect_lazy();
    let tls_client = GrpcBackend::from_channel(channel, Duration::from_secs(3), None)
        .unwrap()
        .with_upstream(tls_mismatch::Upstream {
            authority: authority.clone(),
            tls: true,
        });
    let error = tls_client
        .send_push(pushgate_tests::push("apple_rn", "a1b2"))
        .await
        .unwrap_err();
    assert_eq!(error.message(), tls_mismatch::no_tls_text(&authority));

    // What the probe sees: each server as it is.
    assert_eq!(
        tls_mismatch::speaks_tls(&tls_pushgate.grpc_addr.to_string()).await,
        Some(true)
    );
    assert_eq!(tls_mismatch::speaks_tls(&authority).await, Some(false));
    tls_pushgate.shutdown().await;
    plaintext_pushgate.shutdown().await;
}
