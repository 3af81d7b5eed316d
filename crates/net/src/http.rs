//! A tiny HTTP/1.1 server side, one request per connection: [`read_request`] reads a request
//! within [`Limits`] and [`write_response`] answers and closes. The `/metrics`, `/healthz` and
//! `/readyz` endpoint ([`serve`], GET only) and the Kubernetes webhooks (over TLS) both use
//! them. Enough for Prometheus, kubelet probes and the API server without a web framework.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{info, warn};

/// How much of a request [`read_request`] accepts. How long it may take is the caller's to
/// bound (`tokio::time::timeout` around it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Octets of the request line and headers, with the blank line that ends them.
    pub head: usize,
    /// Octets of the body, as Content-Length gives them.
    pub body: usize,
}

/// One request as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The request target without its query: `/metrics` of `/metrics?x=1`.
    pub path: String,
    /// Name and value of each header, in the order received.
    pub headers: Vec<(String, String)>,
    /// Exactly Content-Length octets; empty without Content-Length.
    pub body: Vec<u8>,
}

impl Request {
    /// The value of the first header called `name`, whatever its case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Why a request could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("connection failed: {0}")]
    Io(#[from] io::Error),
    /// Before the first octet: a TCP probe, or a client that gave up.
    #[error("connection closed before a request")]
    Closed,
    #[error("connection closed inside the request")]
    Truncated,
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    #[error("request line and headers longer than {0} octets")]
    HeadTooLarge(usize),
    #[error("body longer than {0} octets")]
    BodyTooLarge(usize),
    #[error("Transfer-Encoding is not supported: send Content-Length")]
    TransferEncoding,
}

impl HttpError {
    /// The status to answer with, or `None` when there is nobody to answer: 400 Bad Request,
    /// 413 Content Too Large, 431 Request Header Fields Too Large (RFC 6585), 501 Not
    /// Implemented.
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Io(_) | HttpError::Closed => None,
            HttpError::Truncated | HttpError::Malformed(_) => Some(400),
            HttpError::BodyTooLarge(_) => Some(413),
            HttpError::HeadTooLarge(_) => Some(431),
            HttpError::TransferEncoding => Some(501),
        }
    }
}

/// Reads one HTTP/1.x request: the head up to its blank line, then as many octets of body
/// as Content-Length says (none without it; anything sent after them is left unread or
/// dropped). Malformed or oversized input is an error, never a panic.
pub async fn read_request<S: AsyncRead + Unpin>(
    stream: &mut S,
    limits: Limits,
) -> Result<Request, HttpError> {
    let mut buffer = Vec::with_capacity(1024);
    let head_end = read_head(stream, &mut buffer, limits.head).await?;
    let mut body = buffer.split_off(head_end.min(buffer.len()));
    let head = buffer
        .strip_suffix(HEAD_END)
        .ok_or(HttpError::Malformed("no blank line after the headers"))?;
    let head = std::str::from_utf8(head)
        .map_err(|_| HttpError::Malformed("request line or headers not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let (method, path) = parse_request_line(lines.next().unwrap_or_default())?;
    let headers = lines.map(parse_header).collect::<Result<Vec<_>, _>>()?;
    let length = body_length(&headers, limits.body)?;
    let missing = length.saturating_sub(body.len());
    (&mut *stream)
        .take(u64::try_from(missing).unwrap_or(u64::MAX))
        .read_to_end(&mut body)
        .await?;
    if body.len() < length {
        return Err(HttpError::Truncated);
    }
    body.truncate(length);
    Ok(Request {
        method: method.to_string(),
        path: path.to_string(),
        headers,
        body,
    })
}

const HEAD_END: &[u8] = b"\r\n\r\n";

/// Reads into `buffer` until it holds the blank line ending the head; returns where the body
/// starts in it.
async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    buffer: &mut Vec<u8>,
    limit: usize,
) -> Result<usize, HttpError> {
    let mut chunk = [0u8; 4096];
    let mut searched = 0;
    loop {
        let found = buffer.get(searched..).and_then(|unsearched| {
            unsearched
                .windows(HEAD_END.len())
                .position(|w| w == HEAD_END)
        });
        if let Some(position) = found {
            let end = searched + position + HEAD_END.len();
            return if end > limit {
                Err(HttpError::HeadTooLarge(limit))
            } else {
                Ok(end)
            };
        }
        if buffer.len() >= limit {
            return Err(HttpError::HeadTooLarge(limit));
        }
        // The blank line may straddle two reads.
        searched = buffer.len().saturating_sub(HEAD_END.len() - 1);
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(if buffer.is_empty() {
                HttpError::Closed
            } else {
                HttpError::Truncated
            });
        }
        buffer.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

/// `METHOD SP target SP HTTP/1.x` (RFC 9112 §3): the method and the target's path.
fn parse_request_line(line: &str) -> Result<(&str, &str), HttpError> {
    let mut words = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Err(HttpError::Malformed(
            "request line is not a method, a target and a version",
        ));
    };
    if !is_token(method) {
        return Err(HttpError::Malformed("method is not a token"));
    }
    if target.is_empty() || !target.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(HttpError::Malformed("request target is empty or not ASCII"));
    }
    let minor = version.strip_prefix("HTTP/1.").unwrap_or_default();
    if minor.len() != 1 || !minor.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HttpError::Malformed("not HTTP/1.x"));
    }
    Ok((method, target.split('?').next().unwrap_or(target)))
}

/// `name: value` (RFC 9112 §5); a line folded onto the previous one is refused (§5.2).
fn parse_header(line: &str) -> Result<(String, String), HttpError> {
    let (name, value) = line
        .split_once(':')
        .ok_or(HttpError::Malformed("header line without a colon"))?;
    if !is_token(name) {
        return Err(HttpError::Malformed(
            "header name is not a token (or a folded line)",
        ));
    }
    let value = value.trim_matches([' ', '\t']);
    if value.chars().any(|c| c.is_ascii_control() && c != '\t') {
        return Err(HttpError::Malformed("control character in a header value"));
    }
    Ok((name.to_string(), value.to_string()))
}

/// The body's length: Content-Length, 0 without one; a Transfer-Encoding is not read.
fn body_length(headers: &[(String, String)], limit: usize) -> Result<usize, HttpError> {
    let named = |wanted: &'static str| {
        headers
            .iter()
            .filter(move |(name, _)| name.eq_ignore_ascii_case(wanted))
            .map(|(_, value)| value.as_str())
    };
    if named("transfer-encoding").next().is_some() {
        return Err(HttpError::TransferEncoding);
    }
    let mut length = None;
    for value in named("content-length") {
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HttpError::Malformed("Content-Length is not a number"));
        }
        // Only digits: a number that does not parse is too large.
        let parsed: usize = value.parse().map_err(|_| HttpError::BodyTooLarge(limit))?;
        if length.is_some_and(|length| length != parsed) {
            return Err(HttpError::Malformed(
                "Content-Length given twice, differently",
            ));
        }
        length = Some(parsed);
    }
    match length.unwrap_or(0) {
        length if length > limit => Err(HttpError::BodyTooLarge(limit)),
        length => Ok(length),
    }
}

/// A method or header name (RFC 9110 §5.6.2).
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Writes a whole response (status, content type, body) and closes the sending side.
pub async fn write_response<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.shutdown().await
}

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

/// What the endpoint reads of a request: a GET needs no more.
const ENDPOINT_LIMITS: Limits = Limits {
    head: 8192,
    body: 8192,
};

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
    let read = tokio::time::timeout(
        Duration::from_secs(5),
        read_request(&mut stream, ENDPOINT_LIMITS),
    )
    .await
    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "request not read within 5 s"))?;
    let response = match read {
        Ok(request) if request.method == "GET" => handler(&request.path),
        Ok(_) => Response::text(405, "only GET\n"),
        Err(HttpError::Io(error)) => return Err(error),
        Err(error) => match error.status() {
            Some(status) => Response::text(status, format!("{error}\n")),
            None => return Ok(()),
        },
    };
    write_response(
        &mut stream,
        response.status,
        response.content_type,
        response.body.as_bytes(),
    )
    .await
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio::io::ReadBuf;

    use super::*;

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(future)
    }

    /// A peer that sends `pieces` one read at a time, then closes.
    struct Pieces(VecDeque<Vec<u8>>);

    impl Pieces {
        fn new<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> Self {
            Pieces(
                pieces
                    .into_iter()
                    .filter(|piece| !piece.is_empty())
                    .map(<[u8]>::to_vec)
                    .collect(),
            )
        }

        fn bytes(bytes: &[u8], piece: usize) -> Self {
            Pieces::new(bytes.chunks(piece))
        }
    }

    impl AsyncRead for Pieces {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            if let Some(mut piece) = self.0.pop_front() {
                let n = piece.len().min(buf.remaining());
                let rest = piece.split_off(n);
                buf.put_slice(&piece);
                if !rest.is_empty() {
                    self.0.push_front(rest);
                }
            }
            Poll::Ready(Ok(()))
        }
    }

    const LIMITS: Limits = Limits {
        head: 1024,
        body: 64,
    };

    fn read(bytes: &[u8]) -> Result<Request, HttpError> {
        block_on(read_request(&mut Pieces::bytes(bytes, 1 << 20), LIMITS))
    }

    fn status(bytes: &[u8]) -> Option<u16> {
        read(bytes).err().and_then(|error| error.status())
    }

    const REVIEW: &[u8] = b"POST /validate?timeout=10s HTTP/1.1\r\nHost: webhook\r\ncontent-length: 11\r\nContent-Type: application/json\r\n\r\n{\"uid\":\"1\"}";

    fn review() -> Request {
        Request {
            method: "POST".into(),
            path: "/validate".into(),
            headers: vec![
                ("Host".into(), "webhook".into()),
                ("content-length".into(), "11".into()),
                ("Content-Type".into(), "application/json".into()),
            ],
            body: b"{\"uid\":\"1\"}".to_vec(),
        }
    }

    #[test]
    fn reads_method_path_headers_and_body() {
        let request = read(REVIEW).unwrap();
        assert_eq!(request, review());
        assert_eq!(request.header("Content-Length"), Some("11"));
        assert_eq!(request.header("accept"), None);
    }

    #[test]
    fn a_request_arriving_one_octet_at_a_time_reads_the_same() {
        let request = block_on(read_request(&mut Pieces::bytes(REVIEW, 1), LIMITS)).unwrap();
        assert_eq!(request, review());
    }

    #[test]
    fn a_request_split_anywhere_in_two_reads_the_same() {
        for at in 0..=REVIEW.len() {
            let (first, second) = REVIEW.split_at(at);
            let request = block_on(read_request(&mut Pieces::new([first, second]), LIMITS));
            assert_eq!(request.unwrap(), review(), "split at {at}");
        }
    }

    #[test]
    fn without_content_length_there_is_no_body() {
        let request = read(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!(
            (request.method.as_str(), request.path.as_str()),
            ("GET", "/metrics")
        );
        assert!(request.body.is_empty());
        let request = read(b"POST /convert HTTP/1.0\r\n\r\nignored").unwrap();
        assert!(request.body.is_empty());
    }

    #[test]
    fn octets_after_the_body_are_not_part_of_it() {
        let request =
            read(b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET / HTTP/1.1").unwrap();
        assert_eq!(request.body, b"hi");
    }

    #[test]
    fn a_head_over_its_limit_is_refused_with_431() {
        let head = |size: usize| {
            let mut head = b"GET / HTTP/1.1\r\nX: ".to_vec();
            head.resize(size - 4, b'a');
            head.extend_from_slice(b"\r\n\r\n");
            head
        };
        assert!(read(&head(LIMITS.head)).is_ok(), "exactly the limit");
        let over = read(&head(LIMITS.head + 1)).unwrap_err();
        assert!(matches!(over, HttpError::HeadTooLarge(1024)), "{over}");
        assert_eq!(over.status(), Some(431));
        // No blank line ever comes: refused once the limit is read, not waited for.
        let endless = [b'a'; 4096];
        assert_eq!(status(&endless), Some(431));
    }

    #[test]
    fn a_body_over_its_limit_is_refused_with_413_before_it_is_read() {
        let with_length = |length: usize| {
            let mut request =
                format!("POST / HTTP/1.1\r\nContent-Length: {length}\r\n\r\n").into_bytes();
            request.resize(request.len() + length, b'x');
            request
        };
        assert_eq!(read(&with_length(LIMITS.body)).unwrap().body.len(), 64);
        assert_eq!(status(&with_length(LIMITS.body + 1)), Some(413));
        // The peer announced the body but never sent it: not waited for.
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nContent-Length: 65\r\n\r\n"),
            Some(413)
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999999\r\n\r\n"),
            Some(413)
        );
    }

    #[test]
    fn garbage_is_a_bad_request() {
        let garbage: [&[u8]; 16] = [
            b"\r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\r\n\r\n",
            b"GET\r\n\r\n",
            b"GET /\r\n\r\n",
            b"GET  / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1 extra\r\n\r\n",
            b"GET /a b HTTP/1.1\r\n\r\n",
            b"GET / HTTP/2.0\r\n\r\n",
            b"GET / HTTP/1.10\r\n\r\n",
            b"G\xc3\xa9T / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\n folded: y\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: two\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        ];
        for bytes in garbage {
            assert_eq!(status(bytes), Some(400), "{}", bytes.escape_ascii());
        }
    }

    #[test]
    fn a_chunked_body_is_refused_with_501() {
        let chunked = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n";
        assert_eq!(status(chunked), Some(501));
    }

    #[test]
    fn a_connection_closed_early_is_told_from_one_closed_before_a_request() {
        let closed = read(b"").unwrap_err();
        assert!(matches!(closed, HttpError::Closed), "{closed}");
        assert_eq!(closed.status(), None);
        assert!(matches!(
            read(b"GET / HTTP/1.1\r\nHost"),
            Err(HttpError::Truncated)
        ));
        assert!(matches!(
            read(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort"),
            Err(HttpError::Truncated)
        ));
    }

    #[test]
    fn random_input_never_panics() {
        // Octets drawn from what a request is made of, so that some of it gets far.
        const ALPHABET: &[u8] = b"GET POST / HTTP/1.1\r\n\r\nContent-Length: 0123456789:\t\x00\xff";
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..2000 {
            let length = usize::try_from(next() % 200).unwrap();
            let bytes: Vec<u8> = (0..length)
                .map(|_| ALPHABET[usize::try_from(next()).unwrap() % ALPHABET.len()])
                .collect();
            let piece = usize::try_from(next() % 7 + 1).unwrap();
            let _ = block_on(read_request(&mut Pieces::bytes(&bytes, piece), LIMITS));
        }
    }

    #[test]
    fn writes_status_headers_and_body() {
        let mut written = Vec::new();
        block_on(write_response(
            &mut written,
            413,
            "text/plain",
            b"too big\n",
        ))
        .unwrap();
        assert_eq!(
            written,
            b"HTTP/1.1 413 Content Too Large\r\nContent-Type: text/plain\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntoo big\n"
        );
    }

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
            assert!(
                get("garbage\r\n\r\n")
                    .await
                    .starts_with("HTTP/1.1 400 Bad Request\r\n")
            );
        });
    }
}
