//! Golden gob files shared with the Go harness (`plugin-harness/gob_test.go`): what Mattermost's
//! own encoder writes for each message the host sends, decoded here into the plugin's structs;
//! and what the plugin writes, kept in `testdata/gob/rust/` for the Go side to decode into the
//! real Mattermost types. Set `PUSHGATE_UPDATE_GOLDEN=1` to rewrite the plugin's files after a
//! deliberate change (and run the Go side to prove them).

use std::path::{Path, PathBuf};

use gobwire::{parse_length_prefix, Decode, Decoder, Encode, Encoder, Progress};

use crate::{
    api::log_args,
    hooks::{slash_command, IMPLEMENTED, NOT_AN_ADMIN},
    serve_http::go_header,
    wire::*,
};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-harness/testdata/gob")
}

/// Reads the values of one gob stream in order.
struct Stream<'a> {
    rest: &'a [u8],
    decoder: Decoder,
}

impl<'a> Stream<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Stream {
            rest: bytes,
            decoder: Decoder::new(),
        }
    }

    fn next<T: Decode + Default>(&mut self) -> T {
        loop {
            let (width, len) = parse_length_prefix(self.rest)
                .unwrap()
                .expect("a whole message");
            let body = &self.rest[width..width + len];
            self.rest = &self.rest[width + len..];
            if self.decoder.push_message(body).unwrap() == Progress::Ready {
                return self.decoder.decode().unwrap();
            }
        }
    }
}

/// The host's directories, one per Mattermost version the harness pins.
fn host_versions() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("server-"))
        })
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 2,
        "golden files of two host versions: {dirs:?}"
    );
    dirs
}

/// A call from the host: its header names `method`; the argument follows.
fn call<T: Decode + Default>(version: &Path, name: &str, method: &str) -> T {
    let bytes = std::fs::read(version.join(format!("{name}.gob"))).unwrap();
    let mut stream = Stream::new(&bytes);
    let header: go_netrpc::Request = stream.next();
    assert_eq!(header.service_method, method, "{}", version.display());
    stream.next()
}

/// A reply from the host.
fn reply<T: Decode + Default>(version: &Path, name: &str) -> T {
    let bytes = std::fs::read(version.join(format!("{name}.gob"))).unwrap();
    let mut stream = Stream::new(&bytes);
    let _: go_netrpc::Response = stream.next();
    stream.next()
}

#[test]
fn the_hosts_messages_decode() {
    for v in host_versions() {
        let at = v.display();
        let _: Empty = call(&v, "implemented", "Plugin.Implemented");

        let a: OnActivateArgs = call(&v, "on_activate", "Plugin.OnActivate");
        assert_eq!((a.api_mux_id, a.driver_mux_id), (1, 2), "{at}");

        // Older hosts send a whole *http.Request, newer ones HTTPRequestSubset: the same fields.
        let s: ServeHttpArgs = call(&v, "serve_http", "Plugin.ServeHTTP");
        assert_eq!(
            (s.response_writer_stream, s.request_body_stream),
            (3, 4),
            "{at}"
        );
        let r = s.request.expect("request");
        assert_eq!(r.method, "POST", "{at}");
        assert_eq!(
            r.url.map(|u| u.0),
            Some(b"/Sec0/api/v1/send_push?x=1".to_vec()),
            "{at}"
        );
        assert_eq!(r.header["Content-Type"], ["application/json"], "{at}");
        assert_eq!(r.remote_addr, "10.0.0.9:5555", "{at}");
        let c = s.context.expect("context");
        assert_eq!(
            (c.request_id.as_str(), c.ip_address.as_str()),
            ("r1", "10.0.0.9")
        );

        let e: ExecuteCommandArgs = call(&v, "execute_command", "Plugin.ExecuteCommand");
        let args = e.args.expect("command args");
        assert_eq!(args.user_id, "u1", "{at}");
        assert_eq!(args.command, "/pushgate status", "{at}");
        assert_eq!(args.site_url, "https://chat.example.com", "{at}");

        let l: LoadConfigurationReturns = reply(&v, "load_configuration_reply");
        assert!(String::from_utf8(l.json)
            .unwrap()
            .contains("\"grpcaddress\""));

        let r: ErrorReturns = reply(&v, "register_command_reply_error");
        assert_eq!(error_text(&r.a.expect("error")), "trigger taken", "{at}");
        let r: ErrorReturns = reply(&v, "register_command_reply_app_error");
        assert_eq!(
            error_text(&r.a.expect("error")),
            "RegisterCommand: id, detail",
            "{at}"
        );

        let p: HasPermissionToReturns = reply(&v, "has_permission_reply");
        assert!(p.allowed, "{at}");
        let h: Header = reply(&v, "header_reply");
        assert_eq!(h["X-Version-Id"], ["11.0.0"], "{at}");
    }
}

/// One of the plugin's messages as a stream: a net/rpc header, then the value.
fn stream<H: Encode, T: Encode + ?Sized>(header: &H, value: &T) -> Vec<u8> {
    let mut encoder = Encoder::new();
    let mut out = encoder.encode(header).unwrap();
    out.extend(encoder.encode(value).unwrap());
    out
}

fn reply_header(method: &str) -> go_netrpc::Response {
    go_netrpc::Response {
        service_method: method.into(),
        seq: 7,
        error: String::new(),
    }
}

fn call_header(method: &str) -> go_netrpc::Request {
    go_netrpc::Request {
        service_method: method.into(),
        seq: 7,
    }
}

#[test]
fn the_plugins_messages_are_the_golden_files() {
    let ok_header = {
        let mut h = http::HeaderMap::new();
        h.insert("content-type", "text/plain; charset=utf-8".parse().unwrap());
        h.insert("content-length", "16".parse().unwrap());
        h
    };
    let files: Vec<(&str, Vec<u8>)> = vec![
        (
            "implemented_reply",
            stream(
                &reply_header("Plugin.Implemented"),
                &IMPLEMENTED.map(String::from).to_vec(),
            ),
        ),
        (
            "on_activate_reply",
            stream(&reply_header("Plugin.OnActivate"), &ErrorReturns::default()),
        ),
        (
            "on_activate_reply_error",
            stream(
                &reply_header("Plugin.OnActivate"),
                &ErrorReturns {
                    a: error_value("bad config"),
                },
            ),
        ),
        (
            "error_reply",
            stream(
                &go_netrpc::Response {
                    error: "rpc: can't find method Plugin.Nope".into(),
                    ..reply_header("Plugin.Nope")
                },
                &go_netrpc::InvalidRequest {},
            ),
        ),
        (
            "execute_command_reply",
            stream(
                &reply_header("Plugin.ExecuteCommand"),
                &ExecuteCommandReturns {
                    response: Some(CommandResponse {
                        response_type: "ephemeral".into(),
                        text: NOT_AN_ADMIN.into(),
                    }),
                    error: None,
                },
            ),
        ),
        (
            "register_command",
            stream(
                &call_header("Plugin.RegisterCommand"),
                &RegisterCommandArgs {
                    command: Some(slash_command()),
                },
            ),
        ),
        (
            "log_info",
            stream(
                &call_header("Plugin.LogInfo"),
                &log_args(
                    "pushgate plugin activated",
                    &[("grpc_address", "127.0.0.1:50051")],
                ),
            ),
        ),
        (
            "load_configuration",
            stream(&call_header("Plugin.LoadPluginConfiguration"), &Empty {}),
        ),
        (
            "has_permission",
            stream(
                &call_header("Plugin.HasPermissionTo"),
                &HasPermissionToArgs {
                    user_id: "u1".into(),
                    permission: Some(Permission {
                        id: "manage_system".into(),
                    }),
                },
            ),
        ),
        (
            "sync_header",
            stream(&call_header("Plugin.SyncHeader"), &go_header(&ok_header)),
        ),
        (
            "write_header",
            stream(&call_header("Plugin.WriteHeader"), &200i64),
        ),
        (
            "write",
            stream(
                &call_header("Plugin.Write"),
                &b"{\"status\":\"OK\"}\n".to_vec(),
            ),
        ),
    ];
    let rust = dir().join("rust");
    let update = std::env::var_os("PUSHGATE_UPDATE_GOLDEN").is_some();
    for (name, bytes) in files {
        let path = rust.join(format!("{name}.gob"));
        if update {
            std::fs::create_dir_all(&rust).unwrap();
            std::fs::write(&path, &bytes).unwrap();
            continue;
        }
        let golden = std::fs::read(&path).unwrap_or_default();
        assert!(
            golden == bytes,
            "{name}: the plugin now writes other bytes than {} (PUSHGATE_UPDATE_GOLDEN=1 rewrites it; then prove it with the Go harness)",
            path.display()
        );
    }
}
