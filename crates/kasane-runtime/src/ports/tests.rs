//! Unit tests of `-p`/`--expose` parsing and the port proxy.

use super::*;

fn m(ip: Option<&str>, host: u16, container: u16, protocol: Protocol) -> PortMapping {
    PortMapping {
        host_ip: ip.map(|i| i.parse().unwrap()),
        host_port: host,
        container_port: container,
        protocol,
    }
}

use Protocol::{Tcp, Udp};

#[test]
fn publish_forms() {
    let p = |s: &str| parse_publish(s).unwrap();
    assert_eq!(p("80"), [m(None, 0, 80, Tcp)]);
    assert_eq!(p("8080:80"), [m(None, 8080, 80, Tcp)]);
    assert_eq!(
        p("127.0.0.1:8080:80"),
        [m(Some("127.0.0.1"), 8080, 80, Tcp)]
    );
    assert_eq!(p("127.0.0.1::80"), [m(Some("127.0.0.1"), 0, 80, Tcp)]);
    assert_eq!(p("[::1]:8080:80"), [m(Some("::1"), 8080, 80, Tcp)]);
    assert_eq!(p("[::1]::53/udp"), [m(Some("::1"), 0, 53, Udp)]);
    assert_eq!(p("80/udp"), [m(None, 0, 80, Udp)]);
    assert_eq!(p("8080:80/tcp"), [m(None, 8080, 80, Tcp)]);
    assert_eq!(p("8080:80/UDP"), [m(None, 8080, 80, Udp)]);
    assert_eq!(p("0:80"), [m(None, 0, 80, Tcp)]);
    assert_eq!(p("65535:65535"), [m(None, 65535, 65535, Tcp)]);
    assert_eq!(
        p("8000-8002:80-82"),
        [
            m(None, 8000, 80, Tcp),
            m(None, 8001, 81, Tcp),
            m(None, 8002, 82, Tcp)
        ]
    );
    assert_eq!(
        p("10.0.0.1::80-81/udp"),
        [
            m(Some("10.0.0.1"), 0, 80, Udp),
            m(Some("10.0.0.1"), 0, 81, Udp)
        ]
    );
}

#[test]
fn publish_errors_name_the_spec() {
    for (spec, reason) in [
        ("", "no container port"),
        ("8080:", "no container port"),
        ("0", "invalid containerPort: 0"),
        ("8080:0", "invalid containerPort: 0"),
        ("70000", "invalid containerPort: 70000"),
        ("70000:80", "invalid hostPort: 70000"),
        ("http", "invalid containerPort: http"),
        ("+80", "invalid containerPort: +80"),
        ("80/sctp", "invalid proto: sctp"),
        ("80/", "invalid proto: "),
        ("1.2.3:80:80", "invalid ip address: 1.2.3"),
        ("[::1:80:80", "invalid ip address: [::1"),
        ("82-80", "invalid containerPort range: 82-80"),
        (
            "8000-8001:80-82",
            "invalid ranges specified for container and host ports: 80-82 and 8000-8001",
        ),
        (
            "8000-8002:80",
            "invalid ranges specified for container and host ports: 80 and 8000-8002",
        ),
        (
            "8000:80-82",
            "invalid ranges specified for container and host ports: 80-82 and 8000",
        ),
        ("a:b:c:d", "invalid ip address: a:b"),
    ] {
        match parse_publish(spec) {
            Err(PortError::InvalidPublish { spec: s, reason: r }) => {
                assert_eq!((s.as_str(), r.as_str()), (spec, reason));
            }
            other => panic!("{spec:?}: {other:?}"),
        }
    }
    assert_eq!(
        parse_publish("80/sctp").unwrap_err().to_string(),
        "invalid publish spec \"80/sctp\": invalid proto: sctp"
    );
}

#[test]
fn expose_forms() {
    assert_eq!(parse_expose("80/tcp").unwrap(), (80, Tcp));
    assert_eq!(parse_expose("53/udp").unwrap(), (53, Udp));
    assert_eq!(parse_expose("8080").unwrap(), (8080, Tcp));
    for bad in ["0/tcp", "80/icmp", "x", "", "70000", "80-81/tcp"] {
        assert!(
            matches!(parse_expose(bad), Err(PortError::InvalidExpose { .. })),
            "{bad}"
        );
    }
}

#[test]
fn mapping_serde_and_display() {
    let v = serde_json::to_value(m(Some("127.0.0.1"), 8080, 80, Udp)).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"host_ip": "127.0.0.1", "host_port": 8080, "container_port": 80, "protocol": "udp"})
    );
    let back: PortMapping = serde_json::from_value(v).unwrap();
    assert_eq!(back, m(Some("127.0.0.1"), 8080, 80, Udp));
    assert_eq!(Tcp.to_string(), "tcp");
    assert_eq!(Udp.to_string(), "udp");
    assert_eq!(m(None, 1, 2, Tcp).host_addr().to_string(), "0.0.0.0:1");
}

#[test]
fn bind_resolves_ephemeral_ports_and_reports_conflicts() {
    let proxy = PortProxy::bind(&[
        m(Some("127.0.0.1"), 0, 80, Tcp),
        m(Some("127.0.0.1"), 0, 53, Udp),
    ])
    .unwrap();
    let bound = proxy.bound();
    assert!(bound.iter().all(|b| b.host_port != 0));
    assert_eq!(bound[0].container_port, 80);
    assert_eq!(bound[1].protocol, Udp);

    // The same ports again: taken.
    let taken = bound[0].host_port;
    let err = PortProxy::bind(&[m(Some("127.0.0.1"), taken, 80, Tcp)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("Bind for 127.0.0.1:{taken} failed: port is already allocated")
    );
    let udp_taken = bound[1].host_port;
    assert!(matches!(
        PortProxy::bind(&[m(Some("127.0.0.1"), udp_taken, 53, Udp)]),
        Err(PortError::PortAllocated { protocol: Udp, .. })
    ));
    drop(proxy);

    // Two mappings of one call on one port: the second is refused, the first released.
    let free = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = PortProxy::bind(&[
        m(Some("127.0.0.1"), free, 80, Tcp),
        m(Some("127.0.0.1"), free, 81, Tcp),
    ])
    .unwrap_err();
    assert!(matches!(err, PortError::PortAllocated { .. }), "{err:?}");
    TcpListener::bind(("127.0.0.1", free)).unwrap();

    // An address this host does not have.
    let err = PortProxy::bind(&[m(Some("192.0.2.1"), 0, 80, Tcp)]).unwrap_err();
    assert!(matches!(err, PortError::Bind { .. }), "{err:?}");
}

/// Whether this host has IPv6 on its loopback (a test machine might not).
fn has_ipv6() -> bool {
    TcpListener::bind("[::1]:0").is_ok()
}

#[test]
fn an_address_less_port_is_bound_on_ipv4_and_ipv6() {
    if !has_ipv6() {
        eprintln!("skipped: no IPv6 on this host");
        return;
    }
    let backend = TcpListener::bind("127.0.0.1:0").unwrap();
    let cport = backend.local_addr().unwrap().port();
    reverse_server(backend);
    // docker's two bindings: 0.0.0.0 and [::], on the same (here ephemeral) port.
    let proxy = PortProxy::bind(&[m(None, 0, cport, Tcp), m(None, 0, 53, Udp)]).unwrap();
    let bound = proxy.bound();
    let hport = bound[0].host_port;
    assert_eq!(bound.len(), 4, "{bound:?}");
    assert_eq!(bound[0].host_ip, None);
    assert_eq!(bound[1].host_ip, Some("::".parse().unwrap()));
    assert_eq!(bound[1].host_port, hport);
    assert_eq!((bound[2].protocol, bound[3].protocol), (Udp, Udp));
    assert_eq!(bound[2].host_port, bound[3].host_port);
    // Both answer, relayed to the container's 127.0.0.1.
    let handle = proxy.serve(own_netns()).unwrap();
    assert_eq!(round_trip(hport, b"v4"), b"4v");
    let mut c = TcpStream::connect(("::1", hport)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"v6").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut out = Vec::new();
    c.read_to_end(&mut out).unwrap();
    assert_eq!(out, b"6v");
    handle.stop();

    // A port taken on IPv6 only is taken: docker refuses it too.
    let held = TcpListener::from(ipv6_only_socket("[::]:0".parse().unwrap(), Tcp).unwrap());
    let port = held.local_addr().unwrap().port();
    let err = PortProxy::bind(&[m(None, port, 80, Tcp)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("Bind for [::]:{port} failed: port is already allocated")
    );
    // ... and released its IPv4 half again.
    TcpListener::bind(("0.0.0.0", port)).unwrap();
}

fn own_netns() -> File {
    File::open("/proc/self/ns/net").unwrap()
}

/// A TCP server on 127.0.0.1 that reads to EOF, then answers with what it read, reversed.
fn reverse_server(listener: TcpListener) {
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            std::thread::spawn(move || {
                let mut data = Vec::new();
                conn.read_to_end(&mut data).unwrap();
                data.reverse();
                conn.write_all(&data).unwrap();
            });
        }
    });
}

fn round_trip(port: u16, payload: &[u8]) -> Vec<u8> {
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(payload).unwrap();
    c.shutdown(Shutdown::Write).unwrap(); // half-close: the server must still answer
    let mut out = Vec::new();
    c.read_to_end(&mut out).unwrap();
    out
}

#[test]
fn tcp_relay_with_half_close() {
    let backend = TcpListener::bind("127.0.0.1:0").unwrap();
    let cport = backend.local_addr().unwrap().port();
    reverse_server(backend);
    let proxy = PortProxy::bind(&[m(Some("127.0.0.1"), 0, cport, Tcp)]).unwrap();
    let hport = proxy.bound()[0].host_port;
    let handle = proxy.serve(own_netns()).unwrap();

    assert_eq!(round_trip(hport, b"hello"), b"olleh");
    // Large payload, several at once.
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let big = big.clone();
            std::thread::spawn(move || round_trip(hport, &big))
        })
        .collect();
    let mut want = big.clone();
    want.reverse();
    for c in clients {
        assert!(c.join().unwrap() == want);
    }

    let started = Instant::now();
    handle.stop();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(TcpStream::connect(("127.0.0.1", hport)).is_err());
}

#[test]
fn tcp_refused_in_container_closes_client() {
    // A port nobody listens on: bind, note, close.
    let cport = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let proxy = PortProxy::bind(&[m(Some("127.0.0.1"), 0, cport, Tcp)]).unwrap();
    let hport = proxy.bound()[0].host_port;
    let handle = proxy.serve(own_netns()).unwrap();
    let mut c = TcpStream::connect(("127.0.0.1", hport)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0; 1];
    // Closed by the proxy: EOF (or a reset if our write raced the close).
    match c.read(&mut buf) {
        Ok(0) => {}
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
        Ok(n) => panic!("read {n} bytes from a refused connection"),
    }
    handle.stop();
}

#[test]
fn stop_closes_open_connections() {
    // A backend that accepts and then holds the connection open forever.
    let backend = TcpListener::bind("127.0.0.1:0").unwrap();
    let cport = backend.local_addr().unwrap().port();
    let held = std::thread::spawn(move || backend.accept().map(|(s, _)| s));
    let proxy = PortProxy::bind(&[m(Some("127.0.0.1"), 0, cport, Tcp)]).unwrap();
    let hport = proxy.bound()[0].host_port;
    let handle = proxy.serve(own_netns()).unwrap();
    let mut c = TcpStream::connect(("127.0.0.1", hport)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _backend_side = held.join().unwrap().unwrap();
    handle.stop();
    let mut buf = [0; 1];
    assert!(matches!(c.read(&mut buf), Ok(0) | Err(_)));
}

/// A UDP server that answers each datagram with "<payload> from <client address>".
fn udp_echo() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = s.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut buf = [0; 2048];
        while let Ok((n, from)) = s.recv_from(&mut buf) {
            let reply = format!("{} from {from}", String::from_utf8_lossy(&buf[..n]));
            let _ = s.send_to(reply.as_bytes(), from);
        }
    });
    port
}

fn ask(client: &UdpSocket, port: u16, msg: &str) -> String {
    client.send_to(msg.as_bytes(), ("127.0.0.1", port)).unwrap();
    let mut buf = [0; 2048];
    let (n, _) = client.recv_from(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn udp_relay_per_client_flows_expire() {
    let cport = udp_echo();
    let proxy = PortProxy::bind(&[m(Some("127.0.0.1"), 0, cport, Udp)])
        .unwrap()
        .with_udp_idle(Duration::from_millis(300));
    let hport = proxy.bound()[0].host_port;
    let handle = proxy.serve(own_netns()).unwrap();

    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    for s in [&a, &b] {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    let first = ask(&a, hport, "ping");
    assert!(first.starts_with("ping from 127.0.0.1:"), "{first}");
    // Same client, same flow: the backend sees the same source.
    assert_eq!(ask(&a, hport, "ping"), first);
    // Another client gets its own flow.
    let other = ask(&b, hport, "ping");
    assert_ne!(other, first);
    // After the idle timeout the flow is gone; the next datagram opens a new one.
    std::thread::sleep(Duration::from_millis(1500));
    let later = ask(&a, hport, "ping");
    assert!(later.starts_with("ping from 127.0.0.1:"), "{later}");
    assert_ne!(later, first);

    let started = Instant::now();
    handle.stop();
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn relay_into_a_private_namespace() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("SKIP: creating a network namespace needs root");
        return;
    }
    let ns = netns::fresh_netns().unwrap();
    netns::loopback_up(&ns).unwrap();
    let backend = netns::run_in(&ns, || TcpListener::bind("127.0.0.1:0")).unwrap();
    let cport = backend.local_addr().unwrap().port();
    reverse_server(backend);
    let udp_backend = netns::run_in(&ns, || UdpSocket::bind("127.0.0.1:0")).unwrap();
    let ucport = udp_backend.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut buf = [0; 512];
        while let Ok((n, from)) = udp_backend.recv_from(&mut buf) {
            let _ = udp_backend.send_to(&buf[..n], from);
        }
    });

    let proxy = PortProxy::bind(&[
        m(Some("127.0.0.1"), 0, cport, Tcp),
        m(Some("127.0.0.1"), 0, ucport, Udp),
    ])
    .unwrap();
    let bound = proxy.bound();
    let handle = proxy.serve(ns).unwrap();
    assert_eq!(round_trip(bound[0].host_port, b"netns"), b"snten");
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    client
        .send_to(b"dgram", ("127.0.0.1", bound[1].host_port))
        .unwrap();
    let mut buf = [0; 64];
    let (n, _) = client.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"dgram");
    handle.stop();
}
