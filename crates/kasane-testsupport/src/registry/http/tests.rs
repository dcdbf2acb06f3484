//! Unit tests of the parent module.

use super::*;
use std::time::Instant;

fn raw(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn echo() -> HttpServer {
    HttpServer::start(|r: &Request| {
        let scopes = r.query_params("scope").join("|");
        Response::text(
            200,
            &format!(
                "{} {} q={:?} scopes={} body={} x={:?}",
                r.method,
                r.path,
                r.query_param("service"),
                scopes,
                String::from_utf8_lossy(&r.body),
                r.header("X-Thing"),
            ),
        )
    })
    .unwrap()
}

#[test]
fn parses_query_headers_and_bodies() {
    let srv = echo();
    let out = raw(
        srv.addr(),
        "POST /a/b?service=reg%20one&scope=repository%3Afoo%3Apull&scope=x+y HTTP/1.1\r\nHost: x\r\nX-Thing: hi \r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    );
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(
        out.ends_with(
            "POST /a/b q=Some(\"reg one\") scopes=repository:foo:pull|x y body=hello x=Some(\"hi\")"
        ),
        "{out}"
    );
    let out = raw(
        srv.addr(),
        "PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n",
    );
    assert!(out.contains("body=abcde"), "{out}");
    assert_eq!(
        srv.requests(),
        vec![
            ("POST".to_string(), "/a/b".to_string()),
            ("PUT".to_string(), "/c".to_string())
        ]
    );
    assert_eq!(srv.count("PUT", "/c"), 1);
    assert_eq!(srv.recorded()[1].body, b"abcde");
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let srv = echo();
    let out = raw(
        srv.addr(),
        "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 2, "{out}");
    assert!(out.contains("Connection: keep-alive"), "{out}");
    assert_eq!(srv.requests().len(), 2);
}

#[test]
fn head_gets_length_but_no_body() {
    let srv = HttpServer::start(|_: &Request| Response::bytes(200, "x/y", vec![1u8; 10])).unwrap();
    let out = raw(srv.addr(), "HEAD / HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert!(out.contains("Content-Length: 10\r\n"), "{out}");
    assert!(out.ends_with("\r\n\r\n"), "{out}");
}

#[test]
fn hostile_bodies() {
    let srv = HttpServer::start(|r: &Request| {
        let bytes = b"0123456789".to_vec();
        let body = match r.path.as_str() {
            "/truncated" => Body::Truncated { bytes, send: 4 },
            "/stall" => Body::StallAfter { bytes, after: 3 },
            "/endless" => Body::Endless,
            "/repeat" => Body::Repeat {
                byte: b'z',
                len: 1 << 20,
            },
            _ => Body::EndlessWithLength { claimed: 5 },
        };
        Response::new(200).with_body(body)
    })
    .unwrap();
    let out = raw(srv.addr(), "GET /truncated HTTP/1.1\r\n\r\n");
    assert!(out.contains("Content-Length: 10\r\n"), "{out}");
    assert!(out.ends_with("\r\n\r\n0123"), "{out}");

    let out = raw(
        srv.addr(),
        "GET /repeat HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert!(out.ends_with(&"z".repeat(1 << 20)));

    // Endless: read 1 MiB, then hang up.
    let mut s = TcpStream::connect(srv.addr()).unwrap();
    s.write_all(b"GET /endless HTTP/1.1\r\n\r\n").unwrap();
    let mut buf = vec![0u8; 1 << 20];
    s.read_exact(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf).contains("Transfer-Encoding: chunked"));
    drop(s);

    // Lying length: more than 5 bytes arrive.
    let mut s = TcpStream::connect(srv.addr()).unwrap();
    s.write_all(b"GET /lie HTTP/1.1\r\n\r\n").unwrap();
    let mut buf = vec![0u8; 200_000];
    s.read_exact(&mut buf).unwrap();
    drop(s);

    // Stall: 3 bytes, then nothing; the read times out instead of ending.
    let mut s = TcpStream::connect(srv.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    s.write_all(b"GET /stall HTTP/1.1\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let err = s.read_to_end(&mut got).unwrap_err();
    assert!(matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    ));
    assert!(String::from_utf8_lossy(&got).ends_with("\r\n\r\n012"));

    // Dropping the server with the stalled connection still open returns promptly and
    // closes it.
    let t = Instant::now();
    drop(srv);
    assert!(t.elapsed() < Duration::from_secs(3));
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut rest = Vec::new();
    assert!(matches!(s.read_to_end(&mut rest), Ok(0) | Err(_)));
}

#[test]
fn panicking_handler_answers_500() {
    let srv = HttpServer::start(|_: &Request| -> Response { panic!("boom") }).unwrap();
    let out = raw(srv.addr(), "GET / HTTP/1.1\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 500"), "{out}");
}

#[test]
fn form_round_trip() {
    let s = form_encode(&[("scope", "repository:a/b:pull push"), ("x", "ü&=")]);
    assert_eq!(
        parse_form(&s),
        vec![
            ("scope".to_string(), "repository:a/b:pull push".to_string()),
            ("x".to_string(), "ü&=".to_string())
        ]
    );
    assert_eq!(percent_decode("%zz%4"), "%zz%4");
    assert_eq!(percent_decode("a%2Fb+c"), "a/b c");
}
