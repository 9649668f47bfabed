//! The HTTP/2-over-TLS server both mocks run on.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// A request with its body read.
pub(crate) struct Received {
    pub method: hyper::Method,
    pub path: String,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

/// Answers a request; `None` resets the HTTP/2 stream instead of answering.
pub(crate) type Handler =
    Arc<dyn Fn(Received) -> BoxFuture<'static, Option<Response<Full<Bytes>>>> + Send + Sync>;

#[derive(Debug)]
struct Reset;

impl std::fmt::Display for Reset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stream reset by the mock")
    }
}

impl std::error::Error for Reset {}

/// Serves `handler` on 127.0.0.1 (a free port) until the returned task is aborted.
pub(crate) async fn serve(
    tls: Arc<rustls::ServerConfig>,
    handler: Handler,
) -> std::io::Result<(String, JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("https://127.0.0.1:{}", listener.local_addr()?.port());
    let acceptor = TlsAcceptor::from(tls);
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let handler = handler.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let handler = handler.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let received = Received {
                            method: parts.method,
                            path: parts.uri.path().to_owned(),
                            headers: parts.headers,
                            body,
                        };
                        handler(received).await.ok_or(Reset)
                    }
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    Ok((url, task))
}

/// A JSON response with extra headers.
pub(crate) fn json(
    status: u16,
    body: &serde_json::Value,
    headers: &[(&str, String)],
) -> Response<Full<Bytes>> {
    let mut res = Response::builder()
        .status(status)
        .header("content-type", "application/json");
    for (name, value) in headers {
        res = res.header(*name, value);
    }
    res.body(Full::new(Bytes::from(body.to_string())))
        .expect("static response parts are valid")
}
