//! A tiny HTTP/1.1 endpoint for `/metrics`, `/healthz` and `/readyz`: GET only, one request per
//! connection, bounded reads and timeouts. Enough for Prometheus and kubelet probes without a
//! web framework.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{info, warn};

/// A response: status code, content type, body.
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Response {
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }
}

/// Answers a path.
pub type Handler = Arc<dyn Fn(&str) -> Response + Send + Sync>;

/// Binds `address` and serves `handler` until the runtime stops.
pub async fn serve(address: SocketAddr, handler: Handler) -> io::Result<()> {
    let listener = TcpListener::bind(address)
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("cannot serve metrics on {address}: {e}")))?;
    info!(%address, "serving /metrics, /healthz, /readyz");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                if let Err(error) = answer(stream, &handler).await {
                    warn!(%error, "metrics request failed");
                }
            });
        }
    });
    Ok(())
}

async fn answer(mut stream: TcpStream, handler: &Handler) -> io::Result<()> {
    let mut request = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    let read = async {
        while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 8192 {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            request.extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
        Ok::<_, io::Error>(())
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "request not read within 5 s"))??;
    let line = String::from_utf8_lossy(&request);
    let mut words = line.split_whitespace();
    let response = match (words.next(), words.next()) {
        (Some("GET"), Some(target)) => handler(target.split('?').next().unwrap_or(target)),
        _ => Response::text(405, "only GET\n"),
    };
    let reason = match response.status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        503 => "Service Unavailable",
        _ => "",
    };
    let head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        response.status,
        response.content_type,
        response.body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(response.body.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_paths_and_refuses_other_methods() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let address = probe.local_addr().unwrap();
            drop(probe);
            let handler: Handler = Arc::new(|path| match path {
                "/metrics" => Response::text(200, "up 1\n"),
                _ => Response::text(404, "no\n"),
            });
            serve(address, handler).await.unwrap();
            let get = |request: &'static str| async move {
                let mut stream = TcpStream::connect(address).await.unwrap();
                stream.write_all(request.as_bytes()).await.unwrap();
                let mut response = String::new();
                stream.read_to_string(&mut response).await.unwrap();
                response
            };
            let metrics = get("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
            assert!(metrics.starts_with("HTTP/1.1 200 OK\r\n"), "{metrics}");
            assert!(metrics.ends_with("\r\n\r\nup 1\n"), "{metrics}");
            assert!(
                get("GET /nope HTTP/1.1\r\n\r\n")
                    .await
                    .starts_with("HTTP/1.1 404")
            );
            assert!(
                get("POST /metrics HTTP/1.1\r\n\r\n")
                    .await
                    .starts_with("HTTP/1.1 405")
            );
        });
    }
}
