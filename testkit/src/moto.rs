//! The strict AWS emulator: one `moto_server` process per test process, and the
//! faults injected into it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A running `moto_server`.
pub struct Moto {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    child: Mutex<Child>,
    // Held open for the life of the process: when the test binary exits (even
    // by a panic or a signal), the watchdog reads EOF and kills moto.
    _watchdog: Mutex<Option<ChildStdin>>,
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Ok(child) = self.child.get_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// How to start the emulator: `$MOTO_SERVER` (an executable taking
/// `scripts/moto_serial.py`'s flags), else the workspace venv's Python running
/// `scripts/moto_serial.py` — moto_server serving one request at a time, so
/// that conditional writes are atomic as in DynamoDB.
pub fn moto_command() -> (PathBuf, Vec<PathBuf>) {
    match std::env::var_os("MOTO_SERVER") {
        Some(path) => (PathBuf::from(path), Vec::new()),
        None => (
            workspace_dir().join(".venv").join("bin").join("python"),
            vec![workspace_dir().join("scripts").join("moto_serial.py")],
        ),
    }
}

/// The workspace root.
pub fn workspace_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A loopback endpoint that refuses every connection for as long as it is
/// held: its port is bound, so no other process (another test's emulator)
/// can take it, but never listened on.
pub struct ClosedEndpoint {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    _socket: tokio::net::TcpSocket,
}

/// A [`ClosedEndpoint`]: where a dependency is down.
pub fn closed_endpoint() -> ClosedEndpoint {
    let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
    socket
        .bind(([127, 0, 0, 1], 0).into())
        .expect("binding an ephemeral loopback port");
    let port = socket.local_addr().expect("the bound address").port();
    ClosedEndpoint {
        url: format!("http://127.0.0.1:{port}"),
        _socket: socket,
    }
}

/// A loopback port nothing listens on at the time of asking; another
/// process may bind it before the caller does. An emulator binds its own
/// ([`Moto::start`]); a dependency that is down is a [`closed_endpoint`].
pub fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding an ephemeral loopback port")
}

impl Moto {
    /// Starts `moto_server` on a port the system gives it and waits until
    /// it answers.
    pub fn start() -> Moto {
        Moto::start_on(0)
    }

    /// Starts `moto_server` on `port` (again, after a restart; 0: any) and
    /// waits until it answers; panics if it cannot.
    pub fn start_on(port: u16) -> Moto {
        Moto::try_start_on(port).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts `moto_server` on `port` (0: any) and waits until it answers.
    ///
    /// Race-free between test processes: the emulator binds the port itself
    /// and then writes the port it holds to a file only this start knows.
    /// Until that file appears, whatever answers on the port is not ours (a
    /// port picked free and then bound later can be taken in between).
    pub fn try_start_on(port: u16) -> Result<Moto, String> {
        let (path, prefix) = moto_command();
        assert!(
            path.exists(),
            "{} not found.\n\
             Install the emulator with:\n    python3 -m venv {venv} && {venv}/bin/pip install 'moto[server]'\n\
             (`make test` does this) or point MOTO_SERVER at an executable taking moto_serial.py's flags.",
            path.display(),
            venv = workspace_dir().join(".venv").display(),
        );
        static STARTS: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "livehook-moto-{}-{}",
            std::process::id(),
            STARTS.fetch_add(1, Ordering::Relaxed)
        );
        let log_path = std::env::temp_dir().join(format!("{name}.log"));
        let port_file = std::env::temp_dir().join(format!("{name}.port"));
        let _ = std::fs::remove_file(&port_file);
        let log = std::fs::File::create(&log_path).expect("creating the moto log file");
        let mut child = Command::new(&path)
            .args(&prefix)
            .args(["-H", "127.0.0.1", "-p", &port.to_string(), "--port-file"])
            .arg(&port_file)
            // moto builds queue URLs from MOTO_PORT: the wrapper sets it to
            // the port it bound, unless inherited.
            .env_remove("MOTO_PORT")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("cloning the log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", path.display()));
        let watchdog = Command::new("sh")
            .args([
                "-c",
                "cat >/dev/null; kill \"$0\" 2>/dev/null",
                &child.id().to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()
            .and_then(|mut w| w.stdin.take());

        let started = Instant::now();
        let mut bound = None;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(format!(
                    "moto_server (port {port}) exited with {status} before answering:\n{log}"
                ));
            }
            if bound.is_none() {
                bound = std::fs::read_to_string(&port_file)
                    .ok()
                    .and_then(|p| p.trim().parse::<u16>().ok());
            }
            if let Some(bound) = bound
                && answers(bound)
            {
                let _ = std::fs::remove_file(&port_file);
                return Ok(Moto {
                    endpoint: format!("http://127.0.0.1:{bound}"),
                    child: Mutex::new(child),
                    _watchdog: Mutex::new(watchdog),
                });
            }
            if started.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "moto_server (port {port}) did not answer within 60 s (log: {})",
                    log_path.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The port it serves on.
    pub fn port(&self) -> u16 {
        self.endpoint
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_default()
    }

    /// The PID of the `moto_server` process.
    pub fn pid(&self) -> u32 {
        self.child.lock().map_or(0, |c| c.id())
    }

    /// Injects a fault into the emulator (see `scripts/moto_serial.py`):
    /// the next `count` matching requests fail or have their reply held.
    pub fn inject(&self, fault: &Fault) {
        let mut body = json!({
            "service": fault.service,
            "target": fault.target,
            "operation": fault.operation,
            "count": fault.count,
        });
        match fault.kind {
            FaultKind::Error { status } => body["status"] = json!(status),
            FaultKind::HoldReply { seconds } => body["hold_seconds"] = json!(seconds),
            FaultKind::Refuse {
                code,
                matching,
                entries,
            } => {
                body["refuse"] = json!(code);
                body["match"] = json!(matching);
                body["entries"] = json!(entries);
            }
        }
        let body = body.to_string();
        control(&self.endpoint, "POST", &body);
    }

    /// Removes every fault still pending for `target`.
    pub fn clear_faults(&self, target: &str) {
        control(
            &self.endpoint,
            "DELETE",
            &json!({ "target": target }).to_string(),
        );
    }
}

impl Moto {
    /// The messages `topic_arn` accepted, from its `from`-th on (moto's own
    /// record: each `Publish`, each accepted `PublishBatch` entry, in
    /// order; what the wrapper refused or failed by a fault is not in it).
    /// The next call's `from` is `from` plus the length of this answer.
    pub fn accepted(&self, topic_arn: &str, from: usize) -> Result<Vec<Accepted>, String> {
        let mut out = Vec::new();
        loop {
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("target", topic_arn)
                .append_pair("from", &(from + out.len()).to_string())
                .append_pair("limit", &ACCEPTED_PAGE.to_string())
                .finish();
            let body = get(&self.endpoint, &format!("/_livehook/published?{query}"))?;
            let page: Value = serde_json::from_slice(&body)
                .map_err(|e| format!("the emulator's published record: {e}"))?;
            let messages = page["messages"].as_array().cloned().unwrap_or_default();
            let got = messages.len();
            out.extend(messages.into_iter().map(|m| Accepted {
                message_id: m["message_id"].as_str().unwrap_or_default().to_owned(),
                message: m["message"].as_str().unwrap_or_default().to_owned(),
                group_id: m["group_id"].as_str().map(str::to_owned),
            }));
            if got < ACCEPTED_PAGE {
                return Ok(out);
            }
        }
    }
}

impl Moto {
    /// The AWS requests the emulator served that started at or after
    /// `from_ns` (ns since the epoch): each one's start and how long the
    /// emulator took over it (ns), in order. Its own API is not in it.
    pub fn timings(&self, from_ns: u128) -> Result<Vec<(u128, u128)>, String> {
        let body = get(
            &self.endpoint,
            &format!("/_livehook/timings?from={from_ns}"),
        )?;
        let answer: Value =
            serde_json::from_slice(&body).map_err(|e| format!("the emulator's timings: {e}"))?;
        answer["timings"]
            .as_array()
            .ok_or("no timings")?
            .iter()
            .map(|t| match (t[0].as_u64(), t[1].as_u64()) {
                (Some(start), Some(duration)) => Ok((start.into(), duration.into())),
                _ => Err(format!("a timing is not two numbers: {t}")),
            })
            .collect()
    }
}

/// Messages per request to the emulator's published record.
const ACCEPTED_PAGE: usize = 1000;

/// One message a topic accepted, as the emulator recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The `MessageId` SNS answered.
    pub message_id: String,
    /// The message, exactly as published.
    pub message: String,
    /// The `MessageGroupId` (FIFO topics).
    pub group_id: Option<String>,
}

/// The body of a GET to the emulator's own endpoint `path` (HTTP/1.0: the
/// server closes the connection after the answer); an error unless 200.
fn get(endpoint: &str, path: &str) -> Result<Vec<u8>, String> {
    let address = endpoint.trim_start_matches("http://");
    let mut stream =
        TcpStream::connect(address).map_err(|e| format!("connecting to {address}: {e}"))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n")
        .map_err(|e| format!("writing to {address}: {e}"))?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .map_err(|e| format!("reading from {address}: {e}"))?;
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("GET {path}: no complete answer"))?;
    let status = String::from_utf8_lossy(&answer[..split]);
    if !status.starts_with("HTTP/1.0 200") && !status.starts_with("HTTP/1.1 200") {
        let line = status.lines().next().unwrap_or_default().to_owned();
        return Err(format!("GET {path}: {line}"));
    }
    Ok(answer.split_off(split + 4))
}

/// A fault for [`Moto::inject`].
#[derive(Debug, Clone)]
pub struct Fault {
    /// `dynamodb` or `sns` (the request's signing service).
    pub service: &'static str,
    /// The table name or topic ARN the request names: faults never touch
    /// another test's resources.
    pub target: String,
    /// The operation (`PutItem`, `Publish`, `PublishBatch`…); `None`: any.
    pub operation: Option<&'static str>,
    /// How many matching requests it affects.
    pub count: u32,
    /// What happens to them.
    pub kind: FaultKind,
}

/// What a [`Fault`] does.
#[derive(Debug, Clone, Copy)]
pub enum FaultKind {
    /// Answer this HTTP status (5xx) with the service's error, without
    /// passing the request on.
    Error {
        /// The status.
        status: u16,
    },
    /// Pass the request on (a write applies), then hold the reply back this
    /// long before sending it: the client times out after the fact.
    HoldReply {
        /// Seconds.
        seconds: f64,
    },
    /// SNS refuses with this error `code`, as it refuses a message for its
    /// content (`InvalidParameter`, `ParameterValueInvalid`,
    /// `ValidationException`).
    Refuse {
        /// The wire code.
        code: &'static str,
        /// Only requests with a message containing this text meet the fault.
        matching: Option<&'static str>,
        /// A `PublishBatch` is answered entry by entry: the matching entries
        /// fail with `code`, the others are published.
        entries: bool,
    },
}

/// One request to the emulator's fault control endpoint.
fn control(endpoint: &str, method: &str, body: &str) {
    let address = endpoint.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).expect("connecting to the emulator");
    let request = format!(
        "{method} /_livehook/faults HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .expect("writing to the emulator");
    let mut status = String::new();
    BufReader::new(stream)
        .read_line(&mut status)
        .expect("reading the emulator's answer");
    assert!(status.contains(" 200 "), "fault control answered {status}");
}

/// Whether an HTTP server answers on `port`.
fn answers(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if stream
        .write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut status = String::new();
    BufReader::new(stream).read_line(&mut status).is_ok() && status.starts_with("HTTP/")
}

/// The emulator shared by the tests of this binary.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(Moto::start)
}
