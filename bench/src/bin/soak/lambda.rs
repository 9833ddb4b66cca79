//! A local Lambda for the relay: the Invoke API `livehook pump` calls (as
//! `cargo lambda watch` serves it) in front of the Runtime API that the real
//! `relay` bootstrap polls, so that the relay can be killed mid-batch and
//! started again as Lambda would.
//!
//! An invocation whose instance dies (killed, crashed, or past its timeout)
//! is answered as Lambda answers it: `X-Amz-Function-Error` with a
//! `Runtime.ExitError`, and the pump retries the batch.

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinSet;

use crate::process::{Companion, Spawn};

const INVOKE_PATH: &str = "/2015-03-31/functions/relay/invocations";
const RUNTIME: &str = "/2018-06-01/runtime";

/// One invocation: the event, and where its answer goes (`Err`: a function
/// error; dropped: the instance died).
struct Invocation {
    id: String,
    event: Bytes,
    answer: oneshot::Sender<Result<Bytes, String>>,
}

type Queue = Arc<Mutex<mpsc::UnboundedReceiver<Invocation>>>;

/// The relay's local Lambda.
#[derive(Clone)]
pub struct Lambda {
    queue: Queue,
    /// The function's timeout (the template's), counted from hand-out.
    timeout: Duration,
    /// Invocations answered with an error (the instance died or failed).
    pub failed_invocations: Arc<AtomicUsize>,
}

impl Lambda {
    /// Serves the Invoke API; returns it and its base URL.
    pub async fn start(timeout: Duration) -> (Lambda, String) {
        let (tx, rx) = mpsc::unbounded_channel::<Invocation>();
        let lambda = Lambda {
            queue: Arc::new(Mutex::new(rx)),
            timeout,
            failed_invocations: Arc::new(AtomicUsize::new(0)),
        };
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("binding the Invoke API");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let next_id = Arc::new(AtomicUsize::new(0));
        let failed = lambda.failed_invocations.clone();
        tokio::spawn(serve(listener, move |request| {
            let (tx, next_id, failed) = (tx.clone(), next_id.clone(), failed.clone());
            async move { invoke(request, &tx, &next_id, &failed).await }
        }));
        (lambda, url)
    }

    /// How to start an instance of `program` (the relay bootstrap) with
    /// `env`, its output appended to `log`.
    pub fn spawner(&self, program: &Path, env: Vec<(String, String)>, log: &Path) -> Spawn {
        let (program, log) = (program.to_owned(), log.to_owned());
        let lambda = self.clone();
        Box::new(move || {
            let (program, env, log, lambda) =
                (program.clone(), env.clone(), log.clone(), lambda.clone());
            Box::pin(async move {
                let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
                let address = listener.local_addr()?.to_string();
                let out = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)?;
                let child = tokio::process::Command::new(&program)
                    .envs(env)
                    .env("AWS_LAMBDA_RUNTIME_API", &address)
                    .stdin(Stdio::null())
                    .stdout(out.try_clone()?)
                    .stderr(out)
                    .kill_on_drop(true)
                    .spawn()?;
                let companion: Companion = Some(tokio::spawn(lambda.runtime_api(listener)));
                Ok((child, companion))
            })
        })
    }

    /// One instance's Runtime API. Aborting it drops the answers of the
    /// invocations it handed out: the Invoke API reports them failed.
    async fn runtime_api(self, listener: TcpListener) {
        let handed_out = Arc::new(std::sync::Mutex::new(HashMap::<
            String,
            oneshot::Sender<Result<Bytes, String>>,
        >::new()));
        serve(listener, move |request| {
            let (lambda, handed_out) = (self.clone(), handed_out.clone());
            async move { lambda.runtime(request, &handed_out).await }
        })
        .await;
    }

    async fn runtime(
        &self,
        request: Request<Incoming>,
        handed_out: &std::sync::Mutex<HashMap<String, oneshot::Sender<Result<Bytes, String>>>>,
    ) -> Response<Full<Bytes>> {
        let path = request.uri().path().to_owned();
        let Some(rest) = path.strip_prefix(RUNTIME) else {
            return reply(404, &[], Bytes::new());
        };
        if rest == "/invocation/next" {
            let Some(invocation) = self.queue.lock().await.recv().await else {
                return reply(500, &[], Bytes::new());
            };
            let deadline = unix_ms() + self.timeout.as_millis();
            let (id, event) = (invocation.id.clone(), invocation.event.clone());
            // The function's timeout: past it, Lambda gives up on the
            // invocation (and the pump retries the batch).
            let (answer_tx, answer_rx) = oneshot::channel();
            handed_out
                .lock()
                .map(|mut h| h.insert(id.clone(), answer_tx))
                .ok();
            let timeout = self.timeout;
            tokio::spawn(async move {
                let answer = match tokio::time::timeout(timeout, answer_rx).await {
                    Ok(Ok(answer)) => answer,
                    Ok(Err(_)) => Err("the instance died".to_owned()),
                    Err(_) => Err(format!("Task timed out after {} s", timeout.as_secs())),
                };
                let _ = invocation.answer.send(answer);
            });
            return reply(
                200,
                &[
                    ("lambda-runtime-aws-request-id", id),
                    ("lambda-runtime-deadline-ms", deadline.to_string()),
                    (
                        "lambda-runtime-invoked-function-arn",
                        "arn:aws:lambda:us-east-1:123456789012:function:relay".to_owned(),
                    ),
                    ("content-type", "application/json".to_owned()),
                ],
                event,
            );
        }
        let body = request
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let mut parts = rest.trim_start_matches('/').split('/');
        if let (Some("invocation"), Some(id), Some(outcome)) =
            (parts.next(), parts.next(), parts.next())
        {
            let answer = handed_out.lock().ok().and_then(|mut h| h.remove(id));
            if let Some(answer) = answer {
                let result = if outcome == "response" {
                    Ok(body)
                } else {
                    Err(String::from_utf8_lossy(&body).into_owned())
                };
                let _ = answer.send(result);
            }
        }
        // `init/error` too: the process exits and is started again.
        reply(202, &[], Bytes::new())
    }
}

/// The Invoke API: the event queued for the next instance, its answer back.
async fn invoke(
    request: Request<Incoming>,
    queue: &mpsc::UnboundedSender<Invocation>,
    next_id: &AtomicUsize,
    failed: &AtomicUsize,
) -> Response<Full<Bytes>> {
    if request.method() != Method::POST || request.uri().path() != INVOKE_PATH {
        return reply(404, &[], Bytes::from_static(b"no such function"));
    }
    let event = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let id = format!("soak-{}", next_id.fetch_add(1, Ordering::SeqCst));
    let (answer, answered) = oneshot::channel();
    let _ = queue.send(Invocation { id, event, answer });
    match answered.await {
        Ok(Ok(body)) => reply(200, &[], body),
        outcome => {
            failed.fetch_add(1, Ordering::SeqCst);
            let why = match outcome {
                Ok(Err(why)) => why,
                _ => "the instance died".to_owned(),
            };
            let body = serde_json::json!({"errorType": "Runtime.ExitError", "errorMessage": why});
            reply(
                200,
                &[("x-amz-function-error", "Unhandled".to_owned())],
                Bytes::from(body.to_string()),
            )
        }
    }
}

fn reply(status: u16, headers: &[(&str, String)], body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::builder().status(status);
    for (name, value) in headers {
        response = response.header(*name, value);
    }
    response
        .body(Full::new(body))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// Serves HTTP/1.1 on `listener` until aborted; aborting it aborts every
/// connection's task too.
async fn serve<F, Fut>(listener: TcpListener, handler: F)
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        while connections.try_join_next().is_some() {}
        let handler = handler.clone();
        connections.spawn(async move {
            let service = service_fn(move |request| {
                let handler = handler.clone();
                async move { Ok::<_, Infallible>(handler(request).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn unix_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}
