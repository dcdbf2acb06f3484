//! Which redirects the client follows.
//!
//! Registries redirect blob downloads to object storage (S3-style signed URLs on another
//! host). reqwest drops the `Authorization` header when a redirect leaves the origin's
//! scheme, host or port, so credentials never reach the storage host. On top of that, a
//! redirect from a public registry to a loopback, private, link-local or unspecified address
//! is refused: it would let a registry make the client probe the user's own network (SSRF).
//! A redirect from `https` down to plain `http` is refused too. The policy is a pure
//! function of the URLs, unit-tested without sending anything.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use reqwest::Url;

/// Most redirects followed for one request.
pub const MAX_REDIRECTS: usize = 10;

/// Whether the request that started at `origin` may follow a redirect to `next`.
///
/// # Errors
/// A sentence saying why not.
pub fn check_redirect(origin: &Url, next: &Url) -> Result<(), String> {
    match next.scheme() {
        "https" => {}
        "http" if origin.scheme() == "http" => {}
        "http" => {
            return Err(format!(
                "refusing the redirect from {} to plain http ({})",
                host_of(origin),
                host_of(next)
            ));
        }
        s => return Err(format!("refusing a redirect to a {s}: URL")),
    }
    if !is_internal_url(origin) && is_internal_url(next) {
        return Err(format!(
            "refusing the redirect from {} to {}, a loopback or private address",
            host_of(origin),
            host_of(next)
        ));
    }
    Ok(())
}

/// The redirect policy of every registry client.
pub fn policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
        }
        let verdict = match attempt.previous().first() {
            Some(origin) => check_redirect(origin, attempt.url()),
            None => Ok(()),
        };
        match verdict {
            Ok(()) => attempt.follow(),
            Err(reason) => attempt.error(reason),
        }
    })
}

fn host_of(u: &Url) -> String {
    match u.port() {
        Some(p) => format!("{}:{p}", u.host_str().unwrap_or("")),
        None => u.host_str().unwrap_or("").to_owned(),
    }
}

/// Whether `u` points at this machine or a private network (by literal address or name).
pub fn is_internal_url(u: &Url) -> bool {
    match u.host() {
        Some(url::Host::Ipv4(a)) => is_internal_v4(a),
        Some(url::Host::Ipv6(a)) => is_internal_v6(a),
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost") || d.ends_with(".local")
        }
        None => true,
    }
}

/// Loopback, private (RFC 1918), shared (RFC 6598), link-local or unspecified.
pub fn is_internal_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => is_internal_v4(a),
        IpAddr::V6(a) => is_internal_v6(a),
    }
}

fn is_internal_v4(a: Ipv4Addr) -> bool {
    let o = a.octets();
    a.is_loopback()
        || a.is_private()
        || a.is_link_local()
        || a.is_unspecified()
        || a.is_broadcast()
        || (o[0] == 100 && (64..128).contains(&o[1]))
        || o[0] == 0
}

fn is_internal_v6(a: Ipv6Addr) -> bool {
    if let Some(v4) = a.to_ipv4_mapped() {
        return is_internal_v4(v4);
    }
    let first = a.segments()[0];
    a.is_loopback()
        || a.is_unspecified()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link local
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn storage_redirects_are_followed() {
        let origin = u("https://registry-1.docker.io/v2/library/x/blobs/sha256:ab");
        assert!(check_redirect(&origin, &u("https://s3.amazonaws.com/bucket/obj?X-Amz=1")).is_ok());
        assert!(check_redirect(&origin, &u("https://registry-1.docker.io/other")).is_ok());
    }

    #[test]
    fn public_to_private_is_refused() {
        let origin = u("https://registry.example.com/v2/x/blobs/sha256:ab");
        for bad in [
            "https://127.0.0.1/x",
            "https://10.0.0.8/x",
            "https://172.16.5.4:9000/x",
            "https://192.168.1.1/x",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/x",
            "https://[::1]/x",
            "https://[fd00::1]/x",
            "https://[fe80::1]/x",
            "https://[::ffff:10.1.2.3]/x",
            "https://0.0.0.0/x",
            "https://localhost/x",
            "https://db.localhost/x",
        ] {
            let e = check_redirect(&origin, &u(bad)).unwrap_err();
            assert!(e.contains("loopback or private"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_local_registry_may_redirect_locally() {
        let origin = u("http://127.0.0.1:5000/v2/x/blobs/sha256:ab");
        assert!(check_redirect(&origin, &u("http://127.0.0.1:9000/bucket/x")).is_ok());
    }

    #[test]
    fn downgrades_and_odd_schemes_are_refused() {
        let origin = u("https://registry.example.com/v2/");
        assert!(check_redirect(&origin, &u("http://cdn.example.com/x")).is_err());
        assert!(check_redirect(&origin, &u("file:///etc/passwd")).is_err());
        assert!(check_redirect(&u("http://10.0.0.1/"), &u("ftp://x/")).is_err());
    }
}
