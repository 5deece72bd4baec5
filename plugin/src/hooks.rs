//! The hooks the server calls (`Plugin.<Hook>` on the stream dispensed as "hooks"), and the
//! plugin's state between them: the settings in force and the bridge built from them.

use std::{
    net::{IpAddr, SocketAddr},
    sync::{atomic::Ordering, Arc, Mutex, OnceLock, PoisonError, RwLock},
    time::Duration,
};

use go_netrpc::{Server, ServiceError};
use goplugin::MuxBroker;
use http_body_util::BodyExt;
use pushgate::v1::{
    PushAck, PushNotification, SendAckResponse, SendPushResponse, SendRequest, SendResponse, Status,
};
use pushgate_bridge::{routes, tls_mismatch::Upstream, Backend, GrpcBackend, Readiness, Shutdown};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tower::ServiceExt;

use crate::{
    api::{Api, Level},
    gate::{self, Verdict},
    serve_http,
    settings::Settings,
    status::{self, Counters},
    wire::{
        error_value, Command, CommandResponse, Context, Empty, ErrorReturns, ExecuteCommandArgs,
        ExecuteCommandReturns, HttpRequest, OnActivateArgs, ServeHttpArgs,
    },
};

/// The id the manifest gives the plugin: its routes live under `/plugins/<id>`.
pub const PLUGIN_ID: &str = "com.mattermost.pushgate";

/// The hooks this plugin answers (the server calls no others, except `OnActivate`).
pub const IMPLEMENTED: [&str; 5] = [
    "OnActivate",
    "OnDeactivate",
    "OnConfigurationChange",
    "ServeHTTP",
    "ExecuteCommand",
];

/// How long `OnDeactivate` waits for requests in flight (the server waits 10 s for the hook).
const DRAIN: Duration = Duration::from_secs(5);

/// Each call the response writer gets; the host answers at once unless it is wedged.
const WRITER_CALL: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct Plugin {
    /// The server's API, dialled at `OnActivate`. Set once: the server starts a fresh process
    /// for every activation.
    api: OnceLock<Api>,
    /// The host's database driver stream: dialled because the host waits for it, never used.
    driver: Mutex<Option<goplugin::yamux::Stream>>,
    /// The settings in force and the bridge made from them; `None` until settings are valid.
    active: RwLock<Option<Arc<Active>>>,
    /// Why the latest settings were refused ("" when they were taken).
    refused: RwLock<String>,
    counters: Arc<Counters>,
    /// `ServeHTTP` calls under way, which `OnDeactivate` waits for.
    in_flight: Shutdown,
}

struct Active {
    settings: Settings,
    /// The same router as the standalone `pushgate-bridge`: the same answers, byte for byte.
    router: axum::Router,
    channel: Channel,
    /// For calls of the plugin's own (`/pushgate status`), with the auth token.
    backend: GrpcBackend,
}

/// The net/rpc server for one dispensed "hooks" stream.
pub fn server(plugin: Arc<Plugin>, broker: MuxBroker) -> Server {
    let mut server = Server::new();
    server.register("Plugin.Implemented", |_: Empty| async {
        Ok::<_, ServiceError>(IMPLEMENTED.map(String::from).to_vec())
    });
    let (p, b) = (plugin.clone(), broker.clone());
    server.register("Plugin.OnActivate", move |args: OnActivateArgs| {
        let (p, b) = (p.clone(), b.clone());
        async move { Ok::<_, ServiceError>(p.on_activate(&b, args).await) }
    });
    let p = plugin.clone();
    server.register("Plugin.OnConfigurationChange", move |_: Empty| {
        let p = p.clone();
        async move {
            let a = p.configure().await.err().and_then(|e| error_value(&e));
            Ok::<_, ServiceError>(ErrorReturns { a })
        }
    });
    let p = plugin.clone();
    server.register("Plugin.OnDeactivate", move |_: Empty| {
        let p = p.clone();
        async move {
            p.on_deactivate().await;
            Ok::<_, ServiceError>(ErrorReturns::default())
        }
    });
    let (p, b) = (plugin.clone(), broker);
    server.register("Plugin.ServeHTTP", move |args: ServeHttpArgs| {
        let (p, b) = (p.clone(), b.clone());
        async move {
            p.serve_http(&b, args).await;
            Ok::<_, ServiceError>(Empty {})
        }
    });
    let p = plugin;
    server.register("Plugin.ExecuteCommand", move |args: ExecuteCommandArgs| {
        let p = p.clone();
        async move { Ok::<_, ServiceError>(p.execute_command(args).await) }
    });
    server
}

impl Plugin {
    /// Dials the host's API and driver streams, takes the settings, registers `/pushgate`.
    /// Invalid settings do not fail activation: the plugin stays up and answers FAIL with the
    /// reason, so the admin can fix them in the System Console.
    async fn on_activate(&self, broker: &MuxBroker, args: OnActivateArgs) -> ErrorReturns {
        let api = match broker.dial(args.api_mux_id).await {
            Ok(stream) => Api::new(go_netrpc::Client::new(stream)),
            Err(e) => {
                return ErrorReturns {
                    a: error_value(&format!(
                        "pushgate plugin: cannot reach the server API: {e}"
                    )),
                }
            }
        };
        let api = self.api.get_or_init(|| api).clone();
        match broker.dial(args.driver_mux_id).await {
            Ok(stream) => {
                *self.driver.lock().unwrap_or_else(PoisonError::into_inner) = Some(stream)
            }
            Err(e) => {
                api.log(
                    Level::Warn,
                    "pushgate plugin: database driver stream not dialled",
                    &[("error", &e.to_string())],
                )
                .await
            }
        }
        if let Err(e) = ensure_path_secret(&api).await {
            api.log(
                Level::Error,
                "pushgate plugin: no PathSecret could be generated; press Regenerate in the plugin's settings",
                &[("error", &e)],
            )
            .await;
        }
        let _ = self.configure().await;
        if let Err(e) = api.register_command(slash_command()).await {
            api.log(
                Level::Error,
                "pushgate plugin: /pushgate not registered",
                &[("error", &e)],
            )
            .await;
        }
        let address = self.current().map(|a| a.settings.grpc_address.clone());
        api.log(
            Level::Info,
            "pushgate plugin activated",
            &[(
                "grpc_address",
                address.as_deref().unwrap_or("(not configured)"),
            )],
        )
        .await;
        ErrorReturns::default()
    }

    fn current(&self) -> Option<Arc<Active>> {
        self.active
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Loads the settings from the server; valid ones replace those in force, invalid ones are
    /// refused with one log line naming every problem, and the previous ones stay.
    async fn configure(&self) -> Result<(), String> {
        let Some(api) = self.api.get() else {
            return Err("not activated".into());
        };
        let outcome = match api.load_configuration().await {
            Ok(json) => Settings::from_json(&json).and_then(|s| self.take(s)),
            Err(e) => Err(format!("cannot load the settings: {e}")),
        };
        match &outcome {
            Ok(changed) => {
                self.refused
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clear();
                if *changed {
                    let address = self.current().map(|a| a.settings.grpc_address.clone());
                    api.log(
                        Level::Info,
                        "pushgate plugin settings in force",
                        &[("grpc_address", address.as_deref().unwrap_or(""))],
                    )
                    .await;
                }
            }
            Err(e) => {
                *self.refused.write().unwrap_or_else(PoisonError::into_inner) = e.clone();
                let kept = if self.current().is_some() {
                    "the previous settings stay in force"
                } else {
                    "push requests answer FAIL until this is fixed"
                };
                api.log(
                    Level::Error,
                    &format!("pushgate plugin settings refused ({kept})"),
                    &[("error", e)],
                )
                .await;
            }
        }
        outcome.map(|_| ())
    }

    /// Builds the bridge for `settings` and puts it in force; `Ok(false)` when nothing changed.
    fn take(&self, settings: Settings) -> Result<bool, String> {
        if let Some(current) = self.current() {
            if current.settings == settings {
                return Ok(false);
            }
        }
        let channel = channel(&settings)?;
        let mut backend = GrpcBackend::from_channel(
            channel.clone(),
            settings.send_timeout,
            settings.auth_token.as_deref(),
        )?;
        if let Some(upstream) = Upstream::from_url(&settings.endpoint()) {
            backend = backend.with_upstream(upstream);
        }
        let counting = Counting {
            inner: backend.clone(),
            counters: self.counters.clone(),
        };
        let router = pushgate_bridge::router(
            Arc::new(counting),
            pushgate_bridge::Settings::new(Default::default(), false),
        );
        *self.active.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(Active {
            settings,
            router,
            channel,
            backend,
        }));
        Ok(true)
    }

    async fn on_deactivate(&self) {
        self.in_flight.drained(DRAIN).await;
    }

    /// One HTTP request: dial the writer and the body, answer, write the answer back. The
    /// call's reply (sent by the caller) tells the host the response is complete. Each step on
    /// the host is a round trip, so the two dials run side by side.
    async fn serve_http(&self, broker: &MuxBroker, args: ServeHttpArgs) {
        let _in_flight = self.in_flight.guard();
        // The host waits 5 s for each stream to be dialled.
        let (writer, body) = tokio::join!(broker.dial(args.response_writer_stream), async {
            match args.request_body_stream {
                0 => None,
                id => Some(broker.dial(id).await),
            }
        });
        let Ok(writer) = writer else { return };
        let writer = go_netrpc::Client::new(writer);
        let body = match body {
            None => Ok(Vec::new()),
            Some(Ok(stream)) => serve_http::read_body(stream, routes::MAX_BODY_BYTES)
                .await
                .map_err(|e| e.to_string()),
            Some(Err(e)) => Err(e.to_string()),
        };
        let response = match body {
            Ok(body) => self.answer(args.request, args.context, body).await,
            Err(e) => routes::answer(Status::Fail, &format!("Failed to read request body: {e}")),
        };
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let response = http::Response::from_parts(parts, body);
        // A host that stops answering gets the reply anyway, after this bound.
        let _ = tokio::time::timeout(
            WRITER_CALL * 3,
            serve_http::write_response(&writer, response),
        )
        .await;
        let _ = tokio::time::timeout(WRITER_CALL, writer.close()).await;
    }

    /// The answer to one request: past the gate, the bridge's router decides.
    async fn answer(
        &self,
        request: Option<HttpRequest>,
        context: Option<Context>,
        body: Vec<u8>,
    ) -> axum::response::Response {
        let request = request.unwrap_or_default();
        let url = request
            .url
            .as_ref()
            .map(|u| String::from_utf8_lossy(&u.0).into_owned())
            .unwrap_or_else(|| "/".into());
        // An absolute-form URL is possible in principle: only its path and query matter.
        let target = match url.parse::<http::Uri>() {
            Ok(uri) => uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "/".into()),
            Err(_) => return routes::go_not_found(),
        };
        let source: Option<IpAddr> = context.and_then(|c| c.ip_address.parse().ok());
        let Some(active) = self.current() else {
            let is_push = ["/api/v1/send_push", "/api/v1/ack"]
                .iter()
                .any(|route| target.split('?').next().unwrap_or("").ends_with(route));
            if is_push && request.method == "POST" {
                let why = self
                    .refused
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                return routes::answer(
                    Status::Fail,
                    &format!("pushgate plugin is not configured: {why}"),
                );
            }
            return routes::go_not_found();
        };
        let path = match gate::check(&active.settings, &target, source) {
            Verdict::Pass(path) => path,
            Verdict::WrongSecret => {
                self.counters.wrong_secret.fetch_add(1, Ordering::Relaxed);
                return routes::go_not_found();
            }
            Verdict::SourceNotAllowed => {
                self.counters.source_refused.fetch_add(1, Ordering::Relaxed);
                return routes::go_not_found();
            }
        };
        let mut builder = http::Request::builder()
            .method(request.method.as_str())
            .uri(path);
        for (name, values) in &request.header {
            for value in values {
                builder = builder.header(name.as_str(), value.as_str());
            }
        }
        let Ok(mut req) = builder.body(axum::body::Body::from(body)) else {
            return routes::answer(
                Status::Fail,
                "Failed to read request: malformed request line or headers",
            );
        };
        if let Some(ip) = source {
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(SocketAddr::new(ip, 0)));
        }
        match active.router.clone().oneshot(req).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }

    async fn execute_command(&self, args: ExecuteCommandArgs) -> ExecuteCommandReturns {
        let ephemeral = |text: String| ExecuteCommandReturns {
            response: Some(CommandResponse {
                response_type: "ephemeral".into(),
                text,
            }),
            error: None,
        };
        let command = args.args.unwrap_or_default();
        let Some(api) = self.api.get() else {
            return ephemeral("pushgate plugin is not activated.".into());
        };
        match api.has_permission(&command.user_id, "manage_system").await {
            Ok(true) => {}
            Ok(false) => return ephemeral(NOT_AN_ADMIN.into()),
            Err(e) => return ephemeral(format!("pushgate: cannot check your permissions: {e}")),
        }
        let words: Vec<&str> = command.command.split_whitespace().collect();
        if words.get(1) != Some(&"status") {
            return ephemeral("Usage: `/pushgate status`".into());
        }
        let active = self.current();
        let refused = self
            .refused
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let text = status::report(
            active
                .as_deref()
                .map(|a| (&a.settings, &a.channel, &a.backend)),
            &refused,
            &self.counters,
            &command.site_url,
            PLUGIN_ID,
        )
        .await;
        ephemeral(text)
    }
}

/// `/pushgate`, as registered with the server.
pub fn slash_command() -> Command {
    Command {
        trigger: "pushgate".into(),
        auto_complete: true,
        auto_complete_desc: "pushgate's health and this server's push counts".into(),
        auto_complete_hint: "status".into(),
        display_name: "pushgate".into(),
        description: "Shows pushgate's health and the Push Notification Server value".into(),
    }
}

/// The answer to `/pushgate` for anyone but a system admin.
pub const NOT_AN_ADMIN: &str = "Only a system admin can use /pushgate.";

/// Mattermost fills a `generated` setting only when an admin saves the settings page or presses
/// Regenerate, not when the plugin is enabled first: without this, every push would answer FAIL
/// until then. A missing or empty `PathSecret` gets a fresh one, saved through the plugin API (so
/// the System Console and `/pushgate status` show it). One an admin set is never replaced.
async fn ensure_path_secret(api: &Api) -> Result<(), String> {
    let json = api.load_configuration().await?;
    let mut settings: serde_json::Map<String, serde_json::Value> = if json.is_empty() {
        serde_json::Map::new()
    } else {
        serde_json::from_slice(&json).map_err(|e| format!("settings are not a JSON object: {e}"))?
    };
    let empty = match settings.get("pathsecret") {
        None | Some(serde_json::Value::Null) => true,
        Some(serde_json::Value::String(s)) => s.is_empty(),
        Some(_) => false,
    };
    if !empty {
        return Ok(());
    }
    settings.insert("pathsecret".into(), new_path_secret()?.into());
    api.save_configuration(&settings).await?;
    api.log(
        Level::Info,
        "pushgate plugin generated a PathSecret; /pushgate status shows the Push Notification Server value",
        &[],
    )
    .await;
    Ok(())
}

/// 32 characters of letters, digits, `-` and `_`: 192 random bits.
fn new_path_secret() -> Result<String, String> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| format!("no randomness: {e}"))?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[usize::from(b & 63)] as char)
        .collect())
}

/// The gRPC channel for `settings`: connected on first use, so activation never waits on it.
fn channel(settings: &Settings) -> Result<Channel, String> {
    let mut endpoint = Endpoint::from_shared(settings.endpoint())
        .map_err(|e| format!("GrpcAddress: {e}"))?
        .connect_timeout(Duration::from_secs(3));
    if let Some(tls) = &settings.tls {
        let mut config = ClientTlsConfig::new();
        config = match &tls.ca_pem {
            Some(pem) => config.ca_certificate(Certificate::from_pem(pem)),
            None => config.with_webpki_roots(),
        };
        if let Some(name) = &tls.server_name {
            config = config.domain_name(name.clone());
        }
        endpoint = endpoint
            .tls_config(config)
            .map_err(|e| format!("TLS settings: {e}"))?;
    }
    Ok(endpoint.connect_lazy())
}

/// The gRPC backend, counting outcomes for `/pushgate status`.
struct Counting {
    inner: GrpcBackend,
    counters: Arc<Counters>,
}

impl Backend for Counting {
    async fn send_push(&self, n: PushNotification) -> Result<SendPushResponse, tonic::Status> {
        let answer = self.inner.send_push(n).await;
        let counter = match &answer {
            Ok(r) if r.status() == Status::Remove => &self.counters.removed,
            Ok(r) if r.status() != Status::Fail => &self.counters.ok,
            _ => &self.counters.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        answer
    }

    async fn send_ack(&self, ack: PushAck) -> Result<SendAckResponse, tonic::Status> {
        self.inner.send_ack(ack).await
    }

    /// `POST /api/v2/send` through the plugin's URL, as on pushgate's own MPNS API.
    async fn send(&self, request: SendRequest) -> Result<SendResponse, tonic::Status> {
        self.inner.send(request).await
    }

    async fn readiness(&self) -> Readiness {
        self.inner.readiness().await
    }
}
