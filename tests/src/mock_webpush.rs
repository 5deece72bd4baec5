//! A mock Web Push relay (a UnifiedPush distributor such as ntfy) over HTTPS on 127.0.0.1. It
//! holds a device's subscription keys, checks every push's VAPID signature (RFC 8292) against
//! the application server's public key, decrypts the body with the subscription's private key
//! (RFC 8291, through web-push-native, not pushgate's code) and records the plaintext; a push
//! it cannot verify or decrypt is answered 400 and recorded as such.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Router,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use p256::elliptic_curve::sec1::ToEncodedPoint;

use crate::recorder::{Recorded, Recorder};
pub use crate::reply::Reply;

/// A P-256 key pair as VAPID config takes it: (public, private), base64url without padding.
pub fn vapid_keys() -> (String, String) {
    let secret = p256::SecretKey::random(&mut rand_core::OsRng);
    let public = secret.public_key().to_encoded_point(false);
    (
        URL_SAFE_NO_PAD.encode(public.as_bytes()),
        URL_SAFE_NO_PAD.encode(secret.to_bytes()),
    )
}

/// One push as the relay took it.
#[derive(Debug, Clone)]
pub struct Taken {
    /// The decrypted payload, or why it could not be read.
    pub plaintext: Result<String, String>,
    /// The body as it came (aes128gcm).
    pub encrypted: Vec<u8>,
    /// The VAPID claims, or why the signature was refused.
    pub vapid: Result<serde_json::Value, String>,
    pub headers: HeaderMap,
    pub path: String,
}

struct Inner {
    recorder: Recorder,
    taken: Mutex<Vec<Taken>>,
    /// The device's keys.
    secret: p256::SecretKey,
    auth: [u8; 16],
    /// The application server's VAPID public key, base64url.
    vapid_public: String,
    addr: std::sync::OnceLock<SocketAddr>,
}

pub struct MockRelay {
    pub addr: SocketAddr,
    /// The PEM of the relay's self-signed certificate, to trust (`WebPushCAFile`).
    pub ca_pem: String,
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockRelay {
    /// A relay that accepts pushes signed with `vapid_public`.
    pub async fn start(vapid_public: &str) -> Self {
        let mut auth = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut auth);
        let inner = Arc::new(Inner {
            recorder: Recorder::default(),
            taken: Mutex::new(Vec::new()),
            secret: p256::SecretKey::random(&mut rand_core::OsRng),
            auth,
            vapid_public: vapid_public.to_string(),
            addr: Default::default(),
        });
        let app = Router::new()
            .route("/push/{id}", post(push))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        inner.addr.set(addr).unwrap();
        let crate::mock_tls::MockTls { acceptor, ca_pem } = crate::mock_tls::mock_tls(
            &["127.0.0.1", "localhost", "::1"],
            &[b"h2", b"http/1.1"],
            None,
        );
        let counted = inner.clone();
        let task = crate::mock_tls::serve(listener, acceptor, app, move || {
            counted.recorder.connected()
        });
        MockRelay {
            addr,
            ca_pem,
            inner,
            task,
        }
    }

    /// The device id of a subscription at `endpoint` with this relay's device keys.
    pub fn device_id(&self, endpoint: &str) -> String {
        let public = self.inner.secret.public_key().to_encoded_point(false);
        let bundle = serde_json::json!({
            "endpoint": endpoint,
            "p256dh": URL_SAFE_NO_PAD.encode(public.as_bytes()),
            "auth": URL_SAFE_NO_PAD.encode(self.inner.auth),
        });
        URL_SAFE_NO_PAD.encode(bundle.to_string())
    }

    /// The subscription's endpoint on this relay, as `host` names it (`127.0.0.1`, `localhost`).
    pub fn endpoint(&self, host: &str, id: &str) -> String {
        format!("https://{host}:{}/push/{id}", self.addr.port())
    }

    /// A `unified_push` entry signing with `vapid` (public, private) that allows this relay at
    /// 127.0.0.1 and nothing else on loopback; callers add `MaxErrorBodyBytes` and the CA.
    pub fn entry(&self, vapid: (&str, &str), subscriber: &str) -> serde_json::Value {
        serde_json::json!({
            "Type": "unified_push",
            "RequestTimeout": 5,
            "VAPIDPublicKey": vapid.0,
            "VAPIDPrivateKey": vapid.1,
            "Subscriber": subscriber,
            "AllowedHosts": [format!("127.0.0.1:{}", self.addr.port())],
        })
    }

    /// The device's private key and auth secret, base64url: for a second decrypter.
    pub fn device_secrets(&self) -> (String, String) {
        (
            URL_SAFE_NO_PAD.encode(self.inner.secret.to_bytes()),
            URL_SAFE_NO_PAD.encode(self.inner.auth),
        )
    }

    pub fn reply_with(&self, f: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static) {
        self.inner.recorder.reply_with(f);
    }

    pub fn taken(&self) -> Vec<Taken> {
        self.inner.taken.lock().unwrap().clone()
    }

    pub fn connections(&self) -> usize {
        self.inner.recorder.connections()
    }
}

fn verify_vapid(inner: &Inner, headers: &HeaderMap) -> Result<serde_json::Value, String> {
    let value = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or("no Authorization")?;
    let rest = value.strip_prefix("vapid ").ok_or("not a vapid scheme")?;
    let (mut t, mut k) = ("", "");
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("t=") {
            t = v;
        } else if let Some(v) = part.strip_prefix("k=") {
            k = v;
        }
    }
    if k != inner.vapid_public {
        return Err(format!("k={k} is not the application server's key"));
    }
    let public = URL_SAFE_NO_PAD.decode(k).map_err(|e| e.to_string())?;
    let key = jsonwebtoken::DecodingKey::from_ec_components(
        &URL_SAFE_NO_PAD.encode(&public[1..33]),
        &URL_SAFE_NO_PAD.encode(&public[33..65]),
    )
    .map_err(|e| e.to_string())?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    let addr = inner.addr.get().unwrap();
    validation.set_audience(&[format!("https://127.0.0.1:{}", addr.port())]);
    validation.set_required_spec_claims(&["exp", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(t, &key, &validation)
        .map_err(|e| e.to_string())?
        .claims;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // RFC 8292: at most 24 hours ahead.
    if claims["exp"].as_u64().unwrap_or(0) > now + 24 * 3600 {
        return Err("exp more than 24 h ahead".into());
    }
    Ok(claims)
}

async fn push(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let vapid = verify_vapid(&inner, &headers);
    let plaintext = if headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        != Some("aes128gcm")
    {
        Err("Content-Encoding is not aes128gcm".to_string())
    } else {
        let auth = web_push_native::Auth::from(inner.auth);
        web_push_native::decrypt(body.to_vec(), &inner.secret, &auth)
            .map_err(|e| e.to_string())
            .and_then(|p| String::from_utf8(p).map_err(|e| e.to_string()))
    };
    let verified = vapid.is_ok() && plaintext.is_ok();
    let path = format!("/push/{id}");
    inner.taken.lock().unwrap().push(Taken {
        plaintext: plaintext.clone(),
        encrypted: body.to_vec(),
        vapid,
        headers: headers.clone(),
        path: path.clone(),
    });
    if !verified {
        return (StatusCode::BAD_REQUEST, "cannot verify or decrypt").into_response();
    }
    let reply = inner.recorder.take(Recorded {
        method: "POST".into(),
        path,
        headers,
        body: plaintext.unwrap_or_default(),
    });
    let mut response = (
        StatusCode::from_u16(reply.status).unwrap(),
        reply.body.clone(),
    )
        .into_response();
    if reply.status == 200 || reply.status == 201 {
        response.headers_mut().insert(
            "location",
            format!("https://127.0.0.1/m/msg-{id}").parse().unwrap(),
        );
    }
    for (name, value) in reply.headers {
        response
            .headers_mut()
            .insert(name, value.parse().expect("header value"));
    }
    response
}
