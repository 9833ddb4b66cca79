//! A local Lambda Runtime API on loopback, the commands that speak it
//! spawned and stopped, and invocations handed out and answered.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// One HTTP request of the function to the Runtime API, answered through
/// its connection's thread.
pub struct Request {
    pub url: String,
    pub body: String,
    pub reply: Sender<Vec<u8>>,
}

impl Request {
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Answers with `status`, `headers` and `body`, in one write.
    pub fn respond(self, status: u16, headers: &[(&str, String)], body: impl AsRef<[u8]>) {
        let body = body.as_ref();
        let mut out = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
        for (name, value) in headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(body);
        let _ = self.reply.send(bytes);
    }
}

pub type Incoming = (Instant, Request);

/// The Runtime API endpoint: every request is forwarded, with its arrival
/// time, to the driver, which answers when it decides to.
///
/// A minimal HTTP/1.1 server of its own (Content-Length bodies, keep-alive),
/// with TCP_NODELAY and each answer in one write, as Lambda's endpoint
/// answers: a server that writes headers and body separately without
/// TCP_NODELAY meets the client's delayed ACK (Nagle), and every invocation
/// waited 40 ms for its event.
pub struct RuntimeApi {
    pub address: String,
    pub requests: Receiver<Incoming>,
}

/// Serves one connection: requests in order, each answered by the driver.
pub fn serve_connection(stream: TcpStream, tx: Sender<Incoming>) -> Option<()> {
    stream.set_nodelay(true).ok()?;
    let mut writer = stream.try_clone().ok()?;
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let at = Instant::now();
        let url = line.split_whitespace().nth(1)?.to_owned();
        let (mut length, mut expect_continue) = (0_usize, false);
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).ok()?;
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':')?;
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            } else if name.eq_ignore_ascii_case("expect") {
                expect_continue = value.trim().eq_ignore_ascii_case("100-continue");
            }
        }
        if expect_continue {
            writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").ok()?;
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).ok()?;
        let (reply, answer) = channel();
        let body = String::from_utf8_lossy(&body).into_owned();
        tx.send((at, Request { url, body, reply })).ok()?;
        // Dropped unanswered (the run ended): close the connection.
        let bytes = answer.recv().ok()?;
        writer.write_all(&bytes).ok()?;
    }
}

impl RuntimeApi {
    pub fn start() -> RuntimeApi {
        let listener =
            TcpListener::bind("127.0.0.1:0").expect("binding the Runtime API on loopback");
        let address = listener.local_addr().expect("a bound address").to_string();
        let (tx, requests) = channel();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let tx = tx.clone();
                std::thread::spawn(move || serve_connection(stream, tx));
            }
        });
        RuntimeApi { address, requests }
    }

    /// Waits for the next request; `None` after `timeout`.
    pub fn next(&self, timeout: Duration) -> Option<Incoming> {
        self.requests.recv_timeout(timeout).ok()
    }
}

/// A new invocation's request id, shaped as Lambda's (a random UUID):
/// unique across processes and runs, as Lambda's are. The functions that
/// key an event by its invocation (SRS, nginx-rtmp, lal, ZLMediaKit,
/// MediaMTX: their servers never resend) would otherwise meet, in every
/// later process on the same emulator, the records of the earlier ones,
/// and every delivery would take the duplicate's path.
pub fn request_id() -> String {
    let [a, b] = [fastrand::u64(..), fastrand::u64(..)];
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

pub fn unix_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// Hands out `event` as invocation `id` on a pending `GET …/next`, with an
/// X-Ray trace header when `trace` (as Lambda does under active tracing).
pub fn hand_out(request: Request, id: &str, event: impl AsRef<[u8]>, trace: bool) {
    let mut headers = vec![
        ("Lambda-Runtime-Aws-Request-Id", id.to_owned()),
        (
            "Lambda-Runtime-Deadline-Ms",
            (unix_ms() + 30_000).to_string(),
        ),
        (
            "Lambda-Runtime-Invoked-Function-Arn",
            "arn:aws:lambda:us-east-1:123456789012:function:bench".to_owned(),
        ),
        ("Content-Type", "application/json".to_owned()),
    ];
    if trace {
        let now = unix_ms();
        let trace_id = format!(
            "Root=1-{:08x}-{:024x};Parent={:016x};Sampled=1",
            now / 1000,
            now ^ 0x5eed_0000_0000_0000,
            now
        );
        headers.push(("Lambda-Runtime-Trace-Id", trace_id));
    }
    request.respond(200, &headers, event);
}

pub fn accept(request: Request) {
    request.respond(202, &[], "");
}

/// What the function did with one invocation.
pub struct Answer {
    pub at: Instant,
    pub body: String,
}

impl Answer {
    /// The HTTP status of an API Gateway answer (0 when it is not one).
    pub fn status(&self) -> u16 {
        api_status(&self.body).unwrap_or(0)
    }
}

/// The HTTP status of a function's API Gateway answer, if it is one.
pub fn api_status(body: &str) -> Option<u16> {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["statusCode"].as_u64())
        .and_then(|s| u16::try_from(s).ok())
}

/// The body of a function's API Gateway answer, if it is one with a text body.
pub fn api_body(body: &str) -> Option<String> {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["body"].as_str().map(str::to_owned))
}

/// Serves the runtime until invocation `id` is answered; returns the answer
/// (or `None` when the function reported an error, exited, or timed out).
pub fn await_answer(
    api: &RuntimeApi,
    id: &str,
    child: &mut Child,
    pending_next: &mut Option<Incoming>,
) -> Option<Answer> {
    loop {
        let Some((at, mut request)) = api.next(Duration::from_secs(30)) else {
            eprintln!("no answer to invocation {id} within 30 s");
            return None;
        };
        let url = request.url().to_owned();
        if url.ends_with("/invocation/next") {
            // The function is ready for more before we got its answer: keep it.
            *pending_next = Some((at, request));
            if matches!(child.try_wait(), Ok(Some(_))) {
                return None;
            }
            continue;
        }
        let body = std::mem::take(&mut request.body);
        accept(request);
        if url.ends_with(&format!("/invocation/{id}/response")) {
            return Some(Answer { at, body });
        }
        eprintln!("function reported {url}: {body}");
        return None;
    }
}

/// Hands `event()` out as invocation `id` on the function's pending
/// `GET …/next` (or its next one) and serves the runtime until it is
/// answered: the answer and its latency (handed out → answered, ms). The
/// event is built inside the timed span, as the driver always measured.
pub fn invoke<E: AsRef<str>>(
    api: &RuntimeApi,
    child: &mut Child,
    pending: &mut Option<Incoming>,
    id: &str,
    trace: bool,
    event: impl FnOnce() -> E,
) -> Option<(Answer, f64)> {
    let (_, request) = match pending.take() {
        Some(p) => p,
        None => first_next(api, child)?,
    };
    let handed = Instant::now();
    hand_out(request, id, event().as_ref(), trace);
    let answer = await_answer(api, id, child, pending)?;
    let latency = crate::stats::ms(answer.at - handed);
    Some((answer, latency))
}

pub fn spawn(command: &[String], api: &RuntimeApi) -> Child {
    Command::new(&command[0])
        .args(&command[1..])
        .env("AWS_LAMBDA_RUNTIME_API", &api.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .envs(crate::signing_env())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {command:?}: {e}"))
}

/// The first `GET …/next` of a fresh process; `None` if it exits first.
pub fn first_next(api: &RuntimeApi, child: &mut Child) -> Option<Incoming> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(incoming) = api.next(Duration::from_millis(50)) {
            return Some(incoming);
        }
        if matches!(child.try_wait(), Ok(Some(_))) {
            return None;
        }
    }
    None
}

/// Ends the command: SIGTERM first (a wrapper such as `perf record` then
/// writes its data), SIGKILL if it is still there after 10 s.
pub fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::request_id;

    #[test]
    fn request_ids_are_shaped_as_lambdas_and_never_repeat() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| request_id()).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            let groups: Vec<usize> = id.split('-').map(str::len).collect();
            assert_eq!(groups, [8, 4, 4, 4, 12], "{id}");
            assert!(
                id.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit()),
                "{id}"
            );
            assert_eq!(&id[14..15], "4", "{id}");
        }
    }
}
