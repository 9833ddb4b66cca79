//! The functions and the relay served over HTTP, for tests that drive them as a
//! client would.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use crate::{LivePipeline, LiveRelay};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use livehook::stream_event::StreamBatch;

/// Serves `http://127.0.0.1:<port>/<provider>…` with that provider's pipeline, as API Gateway and
/// the Lambda runtime would hand the request over. Returns the base URL.
pub async fn serve_functions(pipelines: HashMap<&'static str, LivePipeline>) -> String {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("binding the test server");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let pipelines = Arc::new(pipelines);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let pipelines = pipelines.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<Incoming>| {
                    let pipelines = pipelines.clone();
                    async move { Ok::<_, Infallible>(route(&pipelines, request).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    base
}

/// Serves the relay behind the Lambda Invoke API, as `cargo lambda watch`
/// does (`POST /2015-03-31/functions/relay/invocations` with the stream
/// event; the batch response back), for `livehook pump --invoke-url`.
/// Returns the base URL.
pub async fn serve_relay(relay: LiveRelay) -> String {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("binding the relay server");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let relay = Arc::new(relay);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let relay = relay.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<Incoming>| {
                    let relay = relay.clone();
                    async move {
                        let wanted = request.method() == hyper::Method::POST
                            && request.uri().path() == "/2015-03-31/functions/relay/invocations";
                        let body = request
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let answer = match serde_json::from_slice::<StreamBatch>(&body) {
                            Ok(event) if wanted => {
                                let report = relay.relay(&event).await;
                                (
                                    200,
                                    serde_json::to_vec(&report.response()).unwrap_or_default(),
                                )
                            }
                            Ok(_) => (404, b"no such function".to_vec()),
                            Err(e) => (400, format!("not a DynamoDB event: {e}").into_bytes()),
                        };
                        Ok::<_, Infallible>(
                            hyper::Response::builder()
                                .status(answer.0)
                                .body(Full::new(Bytes::from(answer.1)))
                                .expect("response"),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    base
}

async fn route(
    pipelines: &HashMap<&'static str, LivePipeline>,
    request: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let provider = parts
        .uri
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("");
    let Some(pipeline) = pipelines.get(provider) else {
        return hyper::Response::builder()
            .status(404)
            .body(Full::new(Bytes::from_static(b"no such function")))
            .expect("response");
    };
    let mut request = lambda_http::Request::new(lambda_http::Body::from(body.to_vec()));
    *request.method_mut() = parts.method;
    *request.uri_mut() = parts.uri;
    *request.headers_mut() = parts.headers;
    let response = pipeline.handle(request).await;
    let (parts, body) = response.into_parts();
    hyper::Response::from_parts(parts, Full::new(Bytes::copy_from_slice(body.as_ref())))
}
