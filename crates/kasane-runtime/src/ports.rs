//! Published ports: `-p/--publish` parsing and the userspace proxy that serves them.
//!
//! Owns: [`PortMapping`] (what `-p` asks for), [`parse_publish`] and [`parse_expose`] (docker's
//! syntax), and [`PortProxy`], which runs in the container's monitor process.
//!
//! Model: kasane never routes or NATs. The proxy listens on the host (the caller's address, or
//! `0.0.0.0` and `[::]` like docker) and, for each TCP connection or UDP client, makes a socket *inside* the
//! container's network namespace ([`crate::netns`]) that talks to `127.0.0.1:<container port>`
//! there, then relays bytes. Nothing else is bound or connected.
//!
//! Lifecycle:
//!
//! ```text
//! parse_publish("8080:80")     -> [PortMapping { host_port: 8080, container_port: 80, .. }]
//! PortProxy::bind(&mappings)   -> listeners bound now: "port is already allocated" fails the
//!                                 run before the container is created
//! proxy.bound()                -> actual host ports (for host_port 0), recorded for `port`/`ps`
//! proxy.serve(netns_file)      -> relay threads, once the container's namespace exists
//! handle.stop()                -> listeners and open connections closed, when it exits
//! ```
//!
//! Concurrency: one accept thread per TCP listener and two threads per connection (one per
//! direction, so a half-close is passed on with `shutdown(Write)`); one thread per UDP host
//! socket and one per UDP client flow, which expires after [`UDP_IDLE_TIMEOUT`] without traffic.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{
    IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket,
};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::netns;

/// How long a UDP client flow lives without a datagram in either direction (docker's 60 s).
pub const UDP_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How often blocked UDP reads wake up to notice `stop` and idle flows.
const UDP_POLL: Duration = Duration::from_millis(500);

/// Errors from parsing port specs or binding the proxy's host sockets.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// A `-p` value that is not docker's `[ip:][hostPort:]containerPort[/proto]`.
    #[error("invalid publish spec {spec:?}: {reason}")]
    InvalidPublish {
        /// The value as given.
        spec: String,
        /// What is wrong with it (`invalid containerPort: 0`).
        reason: String,
    },
    /// An image `ExposedPorts` key or `--expose` value that is not `port[/proto]`.
    #[error("invalid exposed port {port:?}: {reason}")]
    InvalidExpose {
        /// The value as given.
        port: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The host port is in use (docker's wording).
    #[error("Bind for {addr} failed: port is already allocated")]
    PortAllocated {
        /// The address asked for.
        addr: SocketAddr,
        /// The protocol of the listener.
        protocol: Protocol,
    },
    /// Binding the host socket failed for another reason (no such local address, say).
    #[error("Bind for {addr}/{protocol} failed")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The protocol of the listener.
        protocol: Protocol,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The proxy's threads could not be started.
    #[error("starting the port proxy")]
    Spawn(#[source] io::Error),
}

/// A transport protocol a port is published for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP (the default).
    Tcp,
    /// UDP.
    Udp,
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        })
    }
}

impl Protocol {
    fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Some(Self::Tcp),
            "udp" => Some(Self::Udp),
            _ => None,
        }
    }
}

/// One published port: host address and port → container port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    /// Host address to listen on; `None` is all IPv4 addresses (`0.0.0.0`).
    pub host_ip: Option<IpAddr>,
    /// Host port; `0` asks for an ephemeral port (see [`PortProxy::bound`]).
    pub host_port: u16,
    /// Port inside the container (on its `127.0.0.1`).
    pub container_port: u16,
    /// Protocol.
    pub protocol: Protocol,
}

impl PortMapping {
    /// The host socket address to listen on.
    pub fn host_addr(&self) -> SocketAddr {
        SocketAddr::new(
            self.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            self.host_port,
        )
    }
}

/// A port or `start-end` range; `what` names it in errors (`containerPort`).
fn parse_port_range(s: &str, what: &str, allow_zero: bool) -> Result<(u16, u16), String> {
    let port = |p: &str| -> Result<u16, String> {
        match p.parse::<u16>() {
            Ok(0) if !allow_zero => Err(format!("invalid {what}: {s}")),
            Ok(n) if p.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
            _ => Err(format!("invalid {what}: {s}")),
        }
    };
    match s.split_once('-') {
        None => {
            let p = port(s)?;
            Ok((p, p))
        }
        Some((a, b)) => {
            let (a, b) = (port(a)?, port(b)?);
            if a == 0 || a > b {
                return Err(format!("invalid {what} range: {s}"));
            }
            Ok((a, b))
        }
    }
}

/// Parses one `-p/--publish` value in docker's syntax into one mapping per port:
/// `80`, `8080:80`, `127.0.0.1:8080:80`, `127.0.0.1::80`, `[::1]:8080:80`,
/// `8000-8002:80-82`, `80/udp`, `8080:80/tcp`. An empty or `0` host port is ephemeral.
///
/// # Errors
///
/// [`PortError::InvalidPublish`] naming the spec: a port that is not a number in `1..=65535`
/// (`0` is allowed only as the host port), a protocol other than `tcp`/`udp`, an address that
/// is not an IP, or host and container ranges of different lengths.
pub fn parse_publish(spec: &str) -> Result<Vec<PortMapping>, PortError> {
    let bad = |reason: String| PortError::InvalidPublish {
        spec: spec.to_owned(),
        reason,
    };
    let (rest, protocol) = match spec.rsplit_once('/') {
        Some((rest, proto)) => (
            rest,
            Protocol::parse(proto).ok_or_else(|| bad(format!("invalid proto: {proto}")))?,
        ),
        None => (spec, Protocol::Tcp),
    };
    let (front, container) = match rest.rsplit_once(':') {
        Some((front, container)) => (Some(front), container),
        None => (None, rest),
    };
    let (ip, host) = match front {
        None => ("", ""),
        Some(front) => match front.rsplit_once(':') {
            Some((ip, host)) => (ip, host),
            None => ("", front),
        },
    };
    if container.is_empty() {
        return Err(bad("no container port".into()));
    }
    let host_ip = if ip.is_empty() {
        None
    } else {
        let bare = ip
            .strip_prefix('[')
            .and_then(|i| i.strip_suffix(']'))
            .unwrap_or(ip);
        Some(
            bare.parse::<IpAddr>()
                .map_err(|_| bad(format!("invalid ip address: {ip}")))?,
        )
    };
    let (c_start, c_end) = parse_port_range(container, "containerPort", false).map_err(bad)?;
    let container_ports = c_start..=c_end;
    let host_ports: Vec<u16> = if host.is_empty() {
        vec![0; container_ports.clone().count()]
    } else {
        let (h_start, h_end) = parse_port_range(host, "hostPort", true).map_err(bad)?;
        let host_len = usize::from(h_end - h_start) + 1;
        let container_len = usize::from(c_end - c_start) + 1;
        if host_len != container_len {
            return Err(bad(format!(
                "invalid ranges specified for container and host ports: {container} and {host}"
            )));
        }
        (h_start..=h_end).collect()
    };
    Ok(host_ports
        .into_iter()
        .zip(container_ports)
        .map(|(host_port, container_port)| PortMapping {
            host_ip,
            host_port,
            container_port,
            protocol,
        })
        .collect())
}

/// Parses an image `ExposedPorts` key or `--expose` value: `80/tcp`, `53/udp`, `8080`.
///
/// # Errors
///
/// [`PortError::InvalidExpose`] for a port outside `1..=65535` or an unknown protocol.
pub fn parse_expose(port: &str) -> Result<(u16, Protocol), PortError> {
    let bad = |reason: String| PortError::InvalidExpose {
        port: port.to_owned(),
        reason,
    };
    let (num, protocol) = match port.split_once('/') {
        Some((num, proto)) => (
            num,
            Protocol::parse(proto).ok_or_else(|| bad(format!("invalid proto: {proto}")))?,
        ),
        None => (port, Protocol::Tcp),
    };
    match num.parse::<u16>() {
        Ok(n) if n != 0 && num.bytes().all(|b| b.is_ascii_digit()) => Ok((n, protocol)),
        _ => Err(bad(format!("invalid port: {num}"))),
    }
}

/// A bound host socket.
#[derive(Debug)]
enum HostSocket {
    Tcp(Arc<TcpListener>),
    Udp(Arc<UdpSocket>),
}

/// Binds the host socket of `m` at `addr`: the mapping with its port resolved, and the socket.
fn bind_one(m: &PortMapping, addr: SocketAddr) -> Result<(PortMapping, HostSocket), PortError> {
    let fail = |source: io::Error| {
        if source.kind() == io::ErrorKind::AddrInUse {
            PortError::PortAllocated {
                addr,
                protocol: m.protocol,
            }
        } else {
            PortError::Bind {
                addr,
                protocol: m.protocol,
                source,
            }
        }
    };
    let (socket, local) = match m.protocol {
        Protocol::Tcp => {
            let l = if addr.is_ipv6() {
                TcpListener::from(ipv6_only_socket(addr, Protocol::Tcp).map_err(fail)?)
            } else {
                TcpListener::bind(addr).map_err(fail)?
            };
            let local = l.local_addr().map_err(fail)?;
            (HostSocket::Tcp(Arc::new(l)), local)
        }
        Protocol::Udp => {
            let s = if addr.is_ipv6() {
                UdpSocket::from(ipv6_only_socket(addr, Protocol::Udp).map_err(fail)?)
            } else {
                UdpSocket::bind(addr).map_err(fail)?
            };
            let local = s.local_addr().map_err(fail)?;
            (HostSocket::Udp(Arc::new(s)), local)
        }
    };
    let bound = PortMapping {
        host_port: local.port(),
        ..m.clone()
    };
    Ok((bound, socket))
}

/// A socket bound to IPv6 `addr` that takes IPv6 only (`IPV6_V6ONLY`), so that `[::]` and
/// `0.0.0.0` on one port are two bindings, as docker makes them; listening if TCP.
fn ipv6_only_socket(addr: SocketAddr, protocol: Protocol) -> io::Result<OwnedFd> {
    use rustix::net::{self as rnet, sockopt};
    let kind = match protocol {
        Protocol::Tcp => rnet::SocketType::STREAM,
        Protocol::Udp => rnet::SocketType::DGRAM,
    };
    let fd = rnet::socket_with(
        rnet::AddressFamily::INET6,
        kind,
        rnet::SocketFlags::CLOEXEC,
        None,
    )?;
    sockopt::set_ipv6_v6only(&fd, true)?;
    if protocol == Protocol::Tcp {
        // As std's TcpListener::bind: a port in TIME_WAIT does not block a new listener.
        sockopt::set_socket_reuseaddr(&fd, true)?;
    }
    rnet::bind(&fd, &addr)?;
    if protocol == Protocol::Tcp {
        rnet::listen(&fd, 128)?;
    }
    Ok(fd)
}

/// The host side of the published ports: sockets bound, not yet relaying.
#[derive(Debug)]
pub struct PortProxy {
    listeners: Vec<(PortMapping, HostSocket)>,
    udp_idle: Duration,
}

impl PortProxy {
    /// Binds a host listener (TCP) or socket (UDP) for every mapping now, so that a port in use
    /// fails the run before the container starts. Port `0` gets an ephemeral port.
    ///
    /// # Errors
    ///
    /// [`PortError::PortAllocated`] when a port is taken (also by an earlier mapping of the
    /// same call), [`PortError::Bind`] for other bind failures. Sockets bound before the
    /// failure are closed.
    pub fn bind(mappings: &[PortMapping]) -> Result<PortProxy, PortError> {
        let mut listeners = Vec::with_capacity(mappings.len());
        for m in mappings {
            let (bound, socket) = bind_one(m, m.host_addr())?;
            if m.host_ip.is_none() {
                // docker's second binding of an address-less `-p`: the same port on `[::]`.
                // A host without IPv6 gets the IPv4 one alone, and so does an ephemeral port
                // that happens to be taken on IPv6 (its number was the kernel's choice).
                let any6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), bound.host_port);
                match bind_one(m, any6) {
                    Ok((mut v6, socket6)) => {
                        v6.host_ip = Some(any6.ip());
                        listeners.push((bound, socket));
                        listeners.push((v6, socket6));
                        continue;
                    }
                    Err(PortError::PortAllocated { .. }) if m.host_port == 0 => {}
                    Err(e @ PortError::PortAllocated { .. }) => return Err(e),
                    Err(e) => tracing::debug!("no IPv6 binding for {}: {e}", bound.host_port),
                }
            }
            listeners.push((bound, socket));
        }
        Ok(PortProxy {
            listeners,
            udp_idle: UDP_IDLE_TIMEOUT,
        })
    }

    /// The mappings with the host ports actually bound (ephemeral ports resolved).
    pub fn bound(&self) -> Vec<PortMapping> {
        self.listeners.iter().map(|(m, _)| m.clone()).collect()
    }

    /// Starts relaying: each TCP connection and UDP client is forwarded to
    /// `127.0.0.1:<container port>` inside `netns` (the container's `/proc/<pid>/ns/net`).
    /// A TCP connection the container refuses is closed.
    ///
    /// # Errors
    ///
    /// [`PortError::Spawn`] when a relay thread cannot be started; the threads already started
    /// are stopped.
    pub fn serve(self, netns: File) -> Result<ProxyHandle, PortError> {
        let shared = Arc::new(Shared {
            netns,
            stop: AtomicBool::new(false),
            conns: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
            started: Instant::now(),
            udp_idle: self.udp_idle,
        });
        let mut handle = ProxyHandle {
            shared: shared.clone(),
            sockets: Vec::new(),
            threads: Vec::new(),
        };
        for (mapping, socket) in self.listeners {
            let shared = shared.clone();
            let port = mapping.container_port;
            let spawned = match &socket {
                HostSocket::Tcp(l) => {
                    let l = l.clone();
                    std::thread::Builder::new()
                        .name(format!("kasane-proxy-tcp-{}", mapping.host_port))
                        .spawn(move || accept_loop(&l, port, &shared))
                }
                HostSocket::Udp(s) => {
                    let s = s.clone();
                    std::thread::Builder::new()
                        .name(format!("kasane-proxy-udp-{}", mapping.host_port))
                        .spawn(move || udp_loop(&s, port, &shared))
                }
            };
            handle.sockets.push(socket);
            match spawned {
                Ok(t) => handle.threads.push(t),
                Err(e) => {
                    handle.stop();
                    return Err(PortError::Spawn(e));
                }
            }
        }
        Ok(handle)
    }

    /// Overrides the UDP idle timeout (tests).
    #[cfg(test)]
    fn with_udp_idle(mut self, idle: Duration) -> Self {
        self.udp_idle = idle;
        self
    }
}

/// State the relay threads share.
#[derive(Debug)]
struct Shared {
    netns: File,
    stop: AtomicBool,
    /// Open TCP connections (client and container side), so `stop` can close them.
    conns: Mutex<HashMap<u64, [TcpStream; 2]>>,
    next_conn: AtomicU64,
    /// Base for UDP flows' last-activity times.
    started: Instant,
    udp_idle: Duration,
}

impl Shared {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn conns(&self) -> std::sync::MutexGuard<'_, HashMap<u64, [TcpStream; 2]>> {
        // The map holds only socket handles; a panicking relay thread leaves it consistent.
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// The running proxy; [`ProxyHandle::stop`] ends it. Dropping the handle leaves the relay
/// running for the life of the process.
#[derive(Debug)]
pub struct ProxyHandle {
    shared: Arc<Shared>,
    sockets: Vec<HostSocket>,
    threads: Vec<JoinHandle<()>>,
}

impl ProxyHandle {
    /// Stops accepting, closes the host sockets' read side and every open connection, and waits
    /// for the listener threads (best effort: a UDP flow thread may linger for up to half a
    /// second; the monitor exits afterwards anyway).
    pub fn stop(mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for socket in &self.sockets {
            // Shutting down the read side wakes a blocked accept/recv. It fails (harmlessly)
            // with ENOTCONN for an unconnected UDP socket, which is still woken.
            let _ = match socket {
                HostSocket::Tcp(l) => rustix::net::shutdown(&**l, rustix::net::Shutdown::Read),
                HostSocket::Udp(s) => rustix::net::shutdown(&**s, rustix::net::Shutdown::Read),
            };
        }
        for [client, upstream] in self.shared.conns().values() {
            // Already-closed sockets fail with ENOTCONN; nothing to do about that.
            let _ = client.shutdown(Shutdown::Both);
            let _ = upstream.shutdown(Shutdown::Both);
        }
        for t in self.threads.drain(..) {
            // A panicked relay thread has nothing left to clean up.
            let _ = t.join();
        }
    }
}

/// Accepts connections on `listener` until stopped, one relay thread per connection.
fn accept_loop(listener: &TcpListener, port: u16, shared: &Arc<Shared>) {
    loop {
        match listener.accept() {
            Ok((client, _)) => {
                if shared.stopped() {
                    break;
                }
                let shared2 = shared.clone();
                let spawned = std::thread::Builder::new()
                    .name("kasane-proxy-conn".into())
                    .spawn(move || relay_tcp(client, port, &shared2));
                if spawned.is_err() {
                    // Out of threads: the client (moved into the failed closure) is closed;
                    // back off rather than spin.
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            Err(_) if shared.stopped() => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => {
                // ECONNABORTED, EMFILE and the like are transient: retry after a pause.
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Relays one TCP connection to the container's port, both directions, until both close.
fn relay_tcp(client: TcpStream, port: u16, shared: &Shared) {
    let target = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    // Refused (the service is not up yet) or any other failure: dropping `client` closes it,
    // which is what the client of a closed port sees.
    let Ok(upstream) = netns::connect_tcp_in(&shared.netns, target) else {
        return;
    };
    let (Ok(client2), Ok(upstream2), Ok(client3), Ok(upstream3)) = (
        client.try_clone(),
        upstream.try_clone(),
        client.try_clone(),
        upstream.try_clone(),
    ) else {
        return;
    };
    let id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    shared.conns().insert(id, [client3, upstream3]);
    if shared.stopped() {
        // `stop` may have swept the map before this connection was added.
        let _ = client.shutdown(Shutdown::Both);
        let _ = upstream.shutdown(Shutdown::Both);
    }
    let inbound = std::thread::Builder::new()
        .name("kasane-proxy-pump".into())
        .spawn(move || pump(client2, upstream2));
    if let Ok(inbound) = inbound {
        pump(upstream, client);
        // A panicked pump has already stopped copying; nothing else to do.
        let _ = inbound.join();
    }
    shared.conns().remove(&id);
}

/// Copies `from` to `to` until EOF or an error, then passes the half-close on.
fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    // The receiver is gone: stop reading, so the sender sees a reset too.
                    let _ = from.shutdown(Shutdown::Read);
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    // Fails with ENOTCONN when the peer is already fully closed; nothing to pass on then.
    let _ = to.shutdown(Shutdown::Write);
}

/// One UDP client's flow: its socket in the container's namespace and last activity.
#[derive(Debug)]
struct Flow {
    sock: UdpSocket,
    last_ms: AtomicU64,
}

type Flows = Mutex<HashMap<SocketAddr, Arc<Flow>>>;

fn lock_flows(flows: &Flows) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, Arc<Flow>>> {
    // The map holds only sockets and timestamps; a panicking flow thread leaves it consistent.
    flows.lock().unwrap_or_else(PoisonError::into_inner)
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// Receives datagrams on the host socket and forwards each client's to its flow.
fn udp_loop(host: &Arc<UdpSocket>, port: u16, shared: &Arc<Shared>) {
    let target = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    // Without the timeout `stop` still wakes the read by shutting the socket down.
    let _ = host.set_read_timeout(Some(UDP_POLL));
    let flows: Arc<Flows> = Arc::default();
    let mut buf = vec![0u8; 65536];
    while !shared.stopped() {
        let (n, client) = match host.recv_from(&mut buf) {
            Ok(got) => got,
            Err(e) if is_timeout(&e) => continue,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if shared.stopped() {
            break;
        }
        let flow = {
            let mut map = lock_flows(&flows);
            let flow = match map.get(&client) {
                Some(f) => f.clone(),
                None => {
                    let Some(f) = new_flow(host, client, target, shared, &flows) else {
                        // The container's namespace is unusable or out of threads: drop the
                        // datagram, as a congested UDP path would.
                        continue;
                    };
                    map.insert(client, f.clone());
                    f
                }
            };
            // Touched under the lock, so the flow thread cannot expire it in between.
            flow.last_ms.store(shared.now_ms(), Ordering::Relaxed);
            flow
        };
        // ECONNREFUSED reports an earlier ICMP "port unreachable"; UDP is best effort.
        let _ = flow.sock.send(&buf[..n]);
    }
}

/// Creates a flow for `client` and its reply thread.
fn new_flow(
    host: &Arc<UdpSocket>,
    client: SocketAddr,
    target: SocketAddr,
    shared: &Arc<Shared>,
    flows: &Arc<Flows>,
) -> Option<Arc<Flow>> {
    let sock = netns::udp_socket_in(&shared.netns, target).ok()?;
    sock.set_read_timeout(Some(UDP_POLL)).ok()?;
    let flow = Arc::new(Flow {
        sock,
        last_ms: AtomicU64::new(shared.now_ms()),
    });
    let (f, host, shared, flows) = (flow.clone(), host.clone(), shared.clone(), flows.clone());
    std::thread::Builder::new()
        .name("kasane-proxy-flow".into())
        .spawn(move || udp_replies(&f, &host, client, &shared, &flows))
        .ok()?;
    Some(flow)
}

/// Sends the container's replies on a flow back to its client until the flow is idle.
fn udp_replies(
    flow: &Arc<Flow>,
    host: &UdpSocket,
    client: SocketAddr,
    shared: &Shared,
    flows: &Flows,
) {
    let mut buf = vec![0u8; 65536];
    let idle_ms = u64::try_from(shared.udp_idle.as_millis()).unwrap_or(u64::MAX);
    loop {
        // Errors are timeouts, or ECONNREFUSED while nothing listens in the container: the
        // flow is kept until it idles out.
        if let Ok(n) = flow.sock.recv(&mut buf) {
            flow.last_ms.store(shared.now_ms(), Ordering::Relaxed);
            // A send failure is a lost datagram, which UDP allows.
            let _ = host.send_to(&buf[..n], client);
        }
        if shared.stopped() {
            break;
        }
        let idle = |f: &Flow| {
            shared
                .now_ms()
                .saturating_sub(f.last_ms.load(Ordering::Relaxed))
                >= idle_ms
        };
        if idle(flow) {
            let mut map = lock_flows(flows);
            if idle(flow) {
                if map.get(&client).is_some_and(|f| Arc::ptr_eq(f, flow)) {
                    map.remove(&client);
                }
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests;
