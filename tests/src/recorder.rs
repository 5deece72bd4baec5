//! What both mock providers keep of the requests they take: each request (unless recording is
//! off, for long benchmark runs), how many arrived and over how many connections, and the
//! test's script of answers. One recorder, so the mocks differ only in their protocol.

use std::sync::{
    atomic::{AtomicBool, AtomicUsize, Ordering},
    Arc, Mutex,
};

use crate::reply::Reply;

/// One request as the mock provider received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// An FCM message's `data` map.
    pub fn data(&self) -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(&self.body).unwrap()["message"]["data"].clone()
    }
}

/// The answer to each request, given the request and its 0-based number.
type Script = Arc<dyn Fn(&Recorded, usize) -> Reply + Send + Sync>;

pub struct Recorder {
    requests: Mutex<Vec<Recorded>>,
    recording: AtomicBool,
    /// Requests taken, recorded or not.
    received: AtomicUsize,
    connections: AtomicUsize,
    /// Connections that ended (where the mock tells).
    closed: AtomicUsize,
    script: Mutex<Script>,
}

impl Default for Recorder {
    /// Records everything and answers 200.
    fn default() -> Self {
        Recorder {
            requests: Mutex::new(Vec::new()),
            recording: AtomicBool::new(true),
            received: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            closed: AtomicUsize::new(0),
            script: Mutex::new(Arc::new(|_, _| Reply::ok())),
        }
    }
}

impl Recorder {
    /// Takes `request`: counts it, keeps it while recording, and returns the script's answer.
    pub fn take(&self, request: Recorded) -> Reply {
        let n = self.received.fetch_add(1, Ordering::SeqCst);
        let script = self.script.lock().unwrap().clone();
        let reply = script(&request, n);
        if self.recording.load(Ordering::SeqCst) {
            self.requests.lock().unwrap().push(request);
        }
        reply
    }

    /// Counts an accepted connection.
    pub fn connected(&self) {
        self.connections.fetch_add(1, Ordering::SeqCst);
    }

    pub fn reply_with(&self, f: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static) {
        *self.script.lock().unwrap() = Arc::new(f);
    }

    pub fn stop_recording(&self) {
        self.recording.store(false, Ordering::SeqCst);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    pub fn received(&self) -> usize {
        self.received.load(Ordering::SeqCst)
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    pub fn disconnected(&self) {
        self.closed.fetch_add(1, Ordering::SeqCst);
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.connections() - self.closed.load(Ordering::SeqCst)
    }
}
