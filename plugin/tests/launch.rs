//! How the executable starts, as a Mattermost server starts it: without the server's magic
//! cookie it refuses like a Go plugin; with it, the first and only thing on stdout is the
//! handshake line, with the socket already listening; SIGTERM ends it.

use std::{
    io::{BufRead, BufReader, Read},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

const PLUGIN: &str = env!("CARGO_BIN_EXE_pushgate-plugin");

#[test]
fn without_the_cookie_it_refuses_and_exits_1() {
    let out = Command::new(PLUGIN).env_clear().output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "{:?}", out.stdout);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "This binary is a plugin. These are not meant to be executed directly.\n\
         Please execute the program that consumes these plugins, which will\n\
         load any plugins automatically\n"
    );
}

#[test]
fn with_the_cookie_the_handshake_line_comes_first_and_alone() {
    let dir = std::env::temp_dir().join(format!("pushgate-plugin-launch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let started = Instant::now();
    let mut child = Command::new(PLUGIN)
        .env_clear()
        .env("MATTERMOST_PLUGIN", "Securely message teams, anywhere.")
        .env("PLUGIN_PROTOCOL_VERSIONS", "1")
        .env("PLUGIN_UNIX_SOCKET_DIR", &dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    // The server waits 3 s for this line.
    assert!(started.elapsed() < Duration::from_secs(3));
    let fields: Vec<&str> = line.split('|').collect();
    assert_eq!(fields.len(), 6, "{line:?}");
    assert_eq!(&fields[..3], ["1", "1", "unix"], "{line:?}");
    assert_eq!(&fields[4..], ["netrpc", "\n"], "{line:?}");
    let socket = std::path::Path::new(fields[3]);
    assert_eq!(socket.parent(), Some(dir.as_path()));
    // Listening before the line was printed: the server dials at once.
    std::os::unix::net::UnixStream::connect(socket).expect("the socket listens");

    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    assert!(child.wait().unwrap().success(), "SIGTERM ends it with 0");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "", "nothing after the handshake line on stdout");
    let _ = std::fs::remove_dir_all(&dir);
}
