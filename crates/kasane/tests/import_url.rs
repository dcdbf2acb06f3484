//! `import URL`: the tarball is streamed from an HTTP server (one started by the test on
//! 127.0.0.1; nothing else is ever contacted).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use common::Kasane;
use kasane_testsupport::{ImageBuilder, LayerBuilder};

/// Serves `body` at any path, `missing` paths answer 404; returns the base URL.
fn serve(body: Vec<u8>, requests: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
            }
            if request_line.contains("/missing") {
                let _ = stream.write_all(
                    b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
                continue;
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\ncontent-type: application/gzip\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    format!("http://{addr}")
}

#[test]
fn import_from_a_url_streams_the_tarball() {
    let k = Kasane::new();
    let img = ImageBuilder::new()
        .layer(
            LayerBuilder::new(3)
                .dir("etc")
                .file("etc/motd", b"hi\n".to_vec())
                .build(),
            "ADD",
        )
        .build();
    let tarball = k.path("rootfs.tar.gz");
    img.write_rootfs_tar(&tarball, true).unwrap();
    let base = serve(std::fs::read(&tarball).unwrap(), 2);
    let url = format!("{base}/rootfs.tar.gz");
    let out = k.ok(&["import", &url, "fromurl:1"]);
    assert!(out.starts_with("sha256:"), "{out}");
    assert_eq!(
        k.ok(&["inspect", "--format", "{{.Comment}}", "fromurl:1"]),
        format!("Imported from {url}\n")
    );
    let (code, err) = k.fail(&["import", &format!("{base}/missing"), "nope:1"]);
    assert_eq!(code, 1);
    assert!(err.contains("404"), "{err}");
    k.check_clean();
}
