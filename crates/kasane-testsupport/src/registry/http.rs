//! A tiny threaded HTTP/1.1 server on `std::net`, for registry and token-server fakes.
//!
//! Owns: [`HttpServer`] (one thread per connection, bound to `127.0.0.1:0`), the parsed
//! [`Request`], the [`Response`] a handler returns and its [`Body`], whose variants include
//! the hostile ones (endless, stalled, truncated, lying lengths) that a registry client must
//! survive. Plain HTTP only: TLS is the real registry's job ([`super::distribution`]).
//!
//! Requests are read with `Content-Length` or chunked bodies (`Expect: 100-continue` is
//! answered). Connections are kept alive after well-formed bodies ([`Body::Bytes`],
//! [`Body::Repeat`]) unless the client asked to close; every hostile body closes its
//! connection. Dropping the server stops accepting, shuts every open connection down and
//! returns at once: handler threads that are stalled or writing are detached, not joined.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How long a kept-alive connection may sit idle before the server closes it.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest request line or header line accepted.
const MAX_LINE: u64 = 64 * 1024;
/// Most header lines accepted in one request.
const MAX_HEADERS: usize = 256;

/// One parsed HTTP request, as the handler sees it (and as [`HttpServer::recorded`] logs it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// The method, as sent (`GET`, `HEAD`, `POST`, …).
    pub method: String,
    /// The path without the query string, still percent-encoded as sent.
    pub path: String,
    /// The raw query string after `?` (empty when there was none).
    pub query: String,
    /// Header fields in order; names lower-cased, values trimmed.
    pub headers: Vec<(String, String)>,
    /// The request body, de-chunked.
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of header `name` (case-insensitive), if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first value of query parameter `name`, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        parse_form(&self.query)
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// Every value of query parameter `name` in order (repeated keys such as `scope=`).
    pub fn query_params(&self, name: &str) -> Vec<String> {
        parse_form(&self.query)
            .into_iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v)
            .collect()
    }

    /// The body parsed as `application/x-www-form-urlencoded` pairs (OAuth2 `POST /token`).
    pub fn form(&self) -> Vec<(String, String)> {
        parse_form(&String::from_utf8_lossy(&self.body))
    }
}

/// What a handler sends back: status, extra headers and a [`Body`].
///
/// The server adds the framing headers (`Content-Length` or `Transfer-Encoding`, and
/// `Connection: close` when it will close) unless the handler set `Content-Length` or
/// `Transfer-Encoding` itself, which is how a test makes a length lie.
#[derive(Clone, Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header fields to send, in order.
    pub headers: Vec<(String, String)>,
    /// The body and how it is delivered.
    pub body: Body,
}

impl Response {
    /// A response with `status`, no headers and an empty body.
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Body::Bytes(Vec::new()),
        }
    }

    /// `status` with `Content-Type: content_type` and `bytes` as the body.
    pub fn bytes(status: u16, content_type: &str, bytes: impl Into<Vec<u8>>) -> Self {
        Self::new(status)
            .with_header("Content-Type", content_type)
            .with_body(Body::Bytes(bytes.into()))
    }

    /// `status` with a JSON body.
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Self::bytes(status, "application/json", value.to_string())
    }

    /// `status` with a plain-text body.
    pub fn text(status: u16, text: &str) -> Self {
        Self::bytes(status, "text/plain; charset=utf-8", text)
    }

    /// Adds a header field (builder style).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Replaces the body (builder style).
    pub fn with_body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }
}

/// How the body of a [`Response`] is delivered; every variant but `Bytes` and `Repeat` is
/// hostile and closes the connection afterwards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// These bytes, with a truthful `Content-Length`.
    Bytes(Vec<u8>),
    /// `len` copies of `byte` with a truthful `Content-Length`, streamed without allocating
    /// them (huge error bodies).
    Repeat {
        /// The byte repeated.
        byte: u8,
        /// How many bytes are sent.
        len: u64,
    },
    /// `Transfer-Encoding: chunked` that never ends: 64 KiB chunks until the client hangs up
    /// or the server is dropped.
    Endless,
    /// No `Content-Length` and no chunking (close-delimited body) and bytes forever.
    EndlessUnframed,
    /// `Content-Length: claimed`, then bytes forever, well past the claim.
    EndlessWithLength {
        /// The `Content-Length` announced.
        claimed: u64,
    },
    /// `Content-Length` of all of `bytes`, the first `after` of them, then silence until the
    /// client hangs up or the server is dropped: a transfer that never finishes.
    StallAfter {
        /// The full body the length announces.
        bytes: Vec<u8>,
        /// How many bytes are sent before the stall.
        after: usize,
    },
    /// `Content-Length` of all of `bytes`, the first `send` of them, then the connection is
    /// closed: a transfer cut short.
    Truncated {
        /// The full body the length announces.
        bytes: Vec<u8>,
        /// How many bytes are sent before closing.
        send: usize,
    },
}

impl Body {
    fn keeps_alive(&self) -> bool {
        matches!(self, Body::Bytes(_) | Body::Repeat { .. })
    }
}

type Handler = dyn Fn(&Request) -> Response + Send + Sync + 'static;

struct Shared {
    stop: AtomicBool,
    handler: Box<Handler>,
    log: Mutex<Vec<Request>>,
    conns: Mutex<HashMap<u64, TcpStream>>,
    next_conn: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking handler must not take the whole server down with a poisoned log.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A threaded HTTP/1.1 server on `127.0.0.1:<ephemeral port>` calling one handler for every
/// request; it logs every request so tests can assert what a client sent, and how often.
pub struct HttpServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Binds `127.0.0.1:0` and serves `handler` on a background thread until dropped.
    /// A handler that panics answers `500`.
    pub fn start(
        handler: impl Fn(&Request) -> Response + Send + Sync + 'static,
    ) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            handler: Box::new(handler),
            log: Mutex::new(Vec::new()),
            conns: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
        });
        let accept_shared = Arc::clone(&shared);
        let accept = thread::Builder::new()
            .name(format!("http-accept-{}", addr.port()))
            .spawn(move || accept_loop(&listener, &accept_shared))?;
        Ok(Self {
            addr,
            shared,
            accept: Some(accept),
        })
    }

    /// The bound address (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:PORT`, the host part of image references served here.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `(method, path)` of every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<(String, String)> {
        lock(&self.shared.log)
            .iter()
            .map(|r| (r.method.clone(), r.path.clone()))
            .collect()
    }

    /// Every request received so far, headers and bodies included.
    pub fn recorded(&self) -> Vec<Request> {
        lock(&self.shared.log).clone()
    }

    /// How many requests with this method and path (no query) were received.
    pub fn count(&self, method: &str, path: &str) -> usize {
        lock(&self.shared.log)
            .iter()
            .filter(|r| r.method == method && r.path == path)
            .count()
    }

    /// Forgets the logged requests (between phases of one test).
    pub fn clear_log(&self) {
        lock(&self.shared.log).clear();
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept(); only join when the wake-up connection got through.
        let woke = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2)).is_ok();
        if let Some(accept) = self.accept.take()
            && woke
        {
            let _ = accept.join();
        }
        for (_, conn) in lock(&self.shared.conns).drain() {
            let _ = conn.shutdown(Shutdown::Both);
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let stream = match stream {
            Ok(s) => s,
            Err(_) => {
                // EMFILE and friends: back off instead of spinning.
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let id = shared.next_conn.fetch_add(1, Ordering::SeqCst);
        if let Ok(clone) = stream.try_clone() {
            lock(&shared.conns).insert(id, clone);
        }
        let conn_shared = Arc::clone(shared);
        let spawned = thread::Builder::new()
            .name(format!("http-conn-{id}"))
            .spawn(move || {
                let _ = serve_connection(&conn_shared, stream);
                lock(&conn_shared.conns).remove(&id);
            });
        if spawned.is_err() {
            lock(&shared.conns).remove(&id);
        }
    }
}

fn serve_connection(shared: &Shared, stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let Some((req, http11)) = read_request(&mut reader, &mut writer)? else {
            return Ok(());
        };
        if shared.stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        lock(&shared.log).push(req.clone());
        let resp = catch_unwind(AssertUnwindSafe(|| (shared.handler)(&req)))
            .unwrap_or_else(|_| Response::text(500, "handler panicked"));
        let client_keeps = match req.header("connection") {
            Some(c) if c.eq_ignore_ascii_case("close") => false,
            Some(c) if c.eq_ignore_ascii_case("keep-alive") => true,
            _ => http11,
        };
        // A handler-set length may lie: never reuse such a connection.
        let handler_framed = resp.headers.iter().any(|(k, _)| {
            k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding")
        });
        let keep_alive = client_keeps && !handler_framed && resp.body.keeps_alive();
        write_response(shared, &mut writer, &req, resp, keep_alive)?;
        writer.flush()?;
        if !keep_alive {
            let _ = writer.shutdown(Shutdown::Write);
            return Ok(());
        }
    }
}

/// Reads one line (up to `MAX_LINE`), without the line ending; `None` at a clean EOF.
fn read_line(r: &mut BufReader<TcpStream>) -> io::Result<Option<String>> {
    let mut buf = Vec::new();
    let n = r.by_ref().take(MAX_LINE).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "line too long or truncated",
        ));
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// Reads one request; `None` when the client closed the connection between requests.
/// The flag tells whether the client spoke HTTP/1.1 (keep-alive by default).
fn read_request(
    r: &mut BufReader<TcpStream>,
    w: &mut TcpStream,
) -> io::Result<Option<(Request, bool)>> {
    // A TLS ClientHello (record type 0x16) on this plain-HTTP port: answer as Go's net/http
    // does, so a client probing https fails at once instead of waiting for a handshake.
    if r.fill_buf()?.first() == Some(&0x16) {
        let _ = w.write_all(
            b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n",
        );
        let _ = w.shutdown(Shutdown::Both);
        return Ok(None);
    }
    let line = loop {
        match read_line(r)? {
            None => return Ok(None),
            Some(l) if l.trim().is_empty() => continue,
            Some(l) => break l,
        }
    };
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), version) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("malformed request line"));
    };
    let http11 = version.is_none_or(|v| v != "HTTP/1.0");
    // Absolute-form targets (proxies) are reduced to their path.
    let target = match target.find("://") {
        Some(i) => target[i + 3..]
            .find('/')
            .map_or("/", |j| &target[i + 3 + j..]),
        None => target,
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers = Vec::new();
    loop {
        let Some(h) = read_line(r)? else {
            return Err(bad("EOF in headers"));
        };
        if h.is_empty() {
            break;
        }
        if headers.len() >= MAX_HEADERS {
            return Err(bad("too many headers"));
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let mut req = Request {
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        headers,
        body: Vec::new(),
    };
    let chunked = req
        .header("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    let length = match req.header("content-length") {
        Some(v) => Some(v.parse::<u64>().map_err(|_| bad("bad Content-Length"))?),
        None => None,
    };
    let has_body = chunked || length.is_some_and(|n| n > 0);
    if has_body
        && req
            .header("expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        w.flush()?;
    }
    if chunked {
        req.body = read_chunked(r)?;
    } else if let Some(n) = length {
        r.by_ref().take(n).read_to_end(&mut req.body)?;
        if (req.body.len() as u64) < n {
            return Err(bad("EOF in body"));
        }
    }
    Ok(Some((req, http11)))
}

fn read_chunked(r: &mut BufReader<TcpStream>) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(r)?.ok_or_else(|| bad("EOF in chunk size"))?;
        let size_hex = line.split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size_hex, 16).map_err(|_| bad("bad chunk size"))?;
        if size == 0 {
            // Trailers, up to the empty line.
            while let Some(t) = read_line(r)? {
                if t.is_empty() {
                    break;
                }
            }
            return Ok(body);
        }
        let before = body.len();
        r.by_ref().take(size).read_to_end(&mut body)?;
        if ((body.len() - before) as u64) < size {
            return Err(bad("EOF in chunk"));
        }
        let crlf = read_line(r)?.ok_or_else(|| bad("EOF after chunk"))?;
        if !crlf.is_empty() {
            return Err(bad("missing CRLF after chunk"));
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Payload Too Large",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

static FILL: [u8; 64 * 1024] = [b'k'; 64 * 1024];

fn write_response(
    shared: &Shared,
    w: &mut TcpStream,
    req: &Request,
    resp: Response,
    keep_alive: bool,
) -> io::Result<()> {
    let status = resp.status;
    let bodyless_status = (100..200).contains(&status) || status == 204 || status == 304;
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    let mut framed = false;
    for (k, v) in &resp.headers {
        framed |=
            k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding");
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !framed && !bodyless_status {
        match &resp.body {
            Body::Bytes(b) => head.push_str(&format!("Content-Length: {}\r\n", b.len())),
            Body::Repeat { len, .. } => head.push_str(&format!("Content-Length: {len}\r\n")),
            Body::Endless => head.push_str("Transfer-Encoding: chunked\r\n"),
            Body::EndlessUnframed => {}
            Body::EndlessWithLength { claimed } => {
                head.push_str(&format!("Content-Length: {claimed}\r\n"));
            }
            Body::StallAfter { bytes, .. } | Body::Truncated { bytes, .. } => {
                head.push_str(&format!("Content-Length: {}\r\n", bytes.len()));
            }
        }
    }
    head.push_str(if keep_alive {
        "Connection: keep-alive\r\n\r\n"
    } else {
        "Connection: close\r\n\r\n"
    });
    w.write_all(head.as_bytes())?;
    if req.method.eq_ignore_ascii_case("HEAD") || bodyless_status {
        return Ok(());
    }
    let stopped = || shared.stop.load(Ordering::SeqCst);
    match resp.body {
        Body::Bytes(b) => w.write_all(&b),
        Body::Repeat { byte, len } => {
            let buf = vec![byte; FILL.len()];
            let mut left = len;
            while left > 0 {
                let n = left.min(buf.len() as u64) as usize;
                w.write_all(&buf[..n])?;
                left -= n as u64;
            }
            Ok(())
        }
        Body::Endless => {
            let size = format!("{:x}\r\n", FILL.len());
            while !stopped() {
                w.write_all(size.as_bytes())?;
                w.write_all(&FILL)?;
                w.write_all(b"\r\n")?;
            }
            Ok(())
        }
        Body::EndlessUnframed | Body::EndlessWithLength { .. } => {
            while !stopped() {
                w.write_all(&FILL)?;
            }
            Ok(())
        }
        Body::StallAfter { bytes, after } => {
            w.write_all(&bytes[..after.min(bytes.len())])?;
            w.flush()?;
            stall(w, &stopped);
            Ok(())
        }
        Body::Truncated { bytes, send } => w.write_all(&bytes[..send.min(bytes.len())]),
    }
}

/// Waits until the peer hangs up or the server stops, reading and discarding anything the
/// client sends meanwhile.
fn stall(w: &mut TcpStream, stopped: &dyn Fn() -> bool) {
    if w.set_read_timeout(Some(Duration::from_millis(100)))
        .is_err()
    {
        return;
    }
    let mut buf = [0u8; 1024];
    while !stopped() {
        match w.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

/// Decodes `%XX` escapes and `+` (as a space) of a form-encoded component; invalid escapes
/// are kept literally.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Percent-encodes a form component: everything but `A-Z a-z 0-9 - . _ ~` (space as `%20`).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// Parses `a=1&b=2&b=3` (query strings and form bodies) into decoded pairs, in order.
pub fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Builds `a=1&b=2` from pairs, percent-encoding both sides (the inverse of [`parse_form`]).
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests;
