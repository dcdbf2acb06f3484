//! Seed 003, verbatim: many containers from one image, and copy-on-write.
//!
//! The tutorial with `alias docker=kasane`: load `nginx:latest` (here the busybox-httpd
//! stand-in that serves nginx's welcome page), run three web servers on 8001–8003, see one
//! image and three containers, stop and remove them; exercise 4 with five on 8001–8005; then
//! the copy-on-write exercise on 8080: a change made in one container (`exec … > index.html`)
//! lives in that container's upper layer only, and a new container of the same image serves
//! the original page. A deletion shows as `D` in `diff` and as a whiteout in the upper layer.
//!
//! All of it is one test, so the fixed tutorial ports never collide with each other.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use common::{Cleanup, Kasane, http_get, is_id};
use kasane_testsupport::busybox;

const INDEX: &str = "usr/share/nginx/html/index.html";
const TABLE_HEADER: [&str; 7] = [
    "CONTAINER ID",
    "IMAGE",
    "COMMAND",
    "CREATED",
    "STATUS",
    "PORTS",
    "NAMES",
];

/// Rows of `images` for the `nginx` repository.
fn nginx_image_rows(k: &Kasane) -> Vec<Vec<String>> {
    common::table(&k.ok(&["images"]))
        .into_iter()
        .filter(|r| r.first().map(String::as_str) == Some("nginx"))
        .collect()
}

fn assert_one_nginx_image(k: &Kasane) {
    let rows = nginx_image_rows(k);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0][1], "latest", "{rows:?}");
    assert_eq!(
        rows[0][2],
        &busybox::nginx_like_image().id().hex()[..12],
        "{rows:?}"
    );
}

fn run_web(k: &Kasane, name: &str, port: u16) {
    let id = k.ok(&[
        "run",
        "-d",
        "--name",
        name,
        "-p",
        &format!("{port}:80"),
        "nginx",
    ]);
    assert!(is_id(id.trim()), "run -d printed {id:?}");
}

/// `GraphDriver.Data` of a container: (upper, lowers).
fn layers_of(k: &Kasane, name: &str) -> (PathBuf, Vec<PathBuf>) {
    let v = k.inspect_json(name);
    let data = &v["GraphDriver"]["Data"];
    assert_eq!(v["GraphDriver"]["Name"], "overlay", "{v:#}");
    let upper = PathBuf::from(data["UpperDir"].as_str().unwrap());
    let lowers = data["LowerDir"]
        .as_str()
        .unwrap()
        .split(':')
        .map(PathBuf::from)
        .collect();
    (upper, lowers)
}

/// The content of index.html in the topmost lower layer that has it.
fn lower_index(lowers: &[PathBuf]) -> String {
    let l = lowers
        .iter()
        .find(|l| l.join(INDEX).is_file())
        .unwrap_or_else(|| panic!("no lower layer has {INDEX}: {lowers:?}"));
    std::fs::read_to_string(l.join(INDEX)).unwrap()
}

fn image_index(k: &Kasane) -> String {
    let top = k.top_dir("nginx");
    std::fs::read_to_string(Path::new(&top).join(INDEX)).unwrap()
}

#[test]
fn seed_003_containers_from_one_image_and_copy_on_write() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let _c = Cleanup::new(
        &k,
        &[
            "web1",
            "web2",
            "web3",
            "web4",
            "web5",
            "cow-test",
            "cow-test2",
            "cow-test3",
        ],
    );

    // docker load -i nginx.tar
    let tar = k.path("nginx.tar");
    busybox::write_archive(&tar, "nginx:latest", &busybox::nginx_like_image()).unwrap();
    let out = k.ok(&["load", "-i", tar.to_str().unwrap()]);
    assert!(out.contains("Loaded image: nginx:latest"), "{out}");

    // --- Three containers from one image ---------------------------------------------------
    run_web(&k, "web1", 8001);
    run_web(&k, "web2", 8002);
    run_web(&k, "web3", 8003);
    for port in 8001..=8003 {
        assert_eq!(http_get(port), busybox::WELCOME_HTML, "port {port}");
    }
    assert_one_nginx_image(&k);

    let rows = common::table(&k.ok(&["ps"]));
    assert_eq!(rows[0], TABLE_HEADER);
    assert_eq!(rows.len(), 4, "{rows:?}");
    let mut names = BTreeSet::new();
    for r in &rows[1..] {
        assert_eq!(r.len(), 7, "{r:?}");
        assert_eq!(r[1], "nginx", "{r:?}");
        assert_eq!(r[2], "\"httpd -f -v -p 80 -…\"", "{r:?}");
        assert!(r[4].starts_with("Up "), "{r:?}");
        let n: u16 = r[6].strip_prefix("web").unwrap().parse().unwrap();
        let port = 8000 + n;
        if std::net::TcpListener::bind("[::1]:0").is_ok() {
            // docker's two bindings of an address-less -p, as its ps shows them.
            assert_eq!(
                r[5],
                format!("0.0.0.0:{port}->80/tcp, [::]:{port}->80/tcp"),
                "{r:?}"
            );
        } else {
            assert_eq!(r[5], format!("0.0.0.0:{port}->80/tcp"), "{r:?}");
        }
        names.insert(r[6].clone());
    }
    assert_eq!(
        names,
        BTreeSet::from(["web1".to_owned(), "web2".to_owned(), "web3".to_owned()])
    );

    assert_eq!(
        k.ok(&["stop", "web1", "web2", "web3"]),
        "web1\nweb2\nweb3\n"
    );
    assert_eq!(k.ok(&["rm", "web1", "web2", "web3"]), "web1\nweb2\nweb3\n");
    let rows = common::table(&k.ok(&["ps", "-a"]));
    assert_eq!(rows, [TABLE_HEADER], "no nginx rows may remain");
    assert_one_nginx_image(&k);

    // --- Exercise 4: five containers -------------------------------------------------------
    for i in 1..=5u16 {
        run_web(&k, &format!("web{i}"), 8000 + i);
    }
    for port in 8001..=8005 {
        assert_eq!(http_get(port), busybox::WELCOME_HTML, "port {port}");
    }
    assert_eq!(k.ok(&["ps", "-q"]).lines().count(), 5);
    assert_one_nginx_image(&k);
    assert_eq!(
        k.ok(&["rm", "-f", "web1", "web2", "web3", "web4", "web5"]),
        "web1\nweb2\nweb3\nweb4\nweb5\n"
    );
    assert_eq!(k.ok(&["ps", "-a", "-q"]), "");
    assert_one_nginx_image(&k);

    // --- Copy-on-write ---------------------------------------------------------------------
    run_web(&k, "cow-test", 8080);
    assert_eq!(http_get(8080), busybox::WELCOME_HTML);
    k.ok(&[
        "exec",
        "cow-test",
        "sh",
        "-c",
        "echo 'Hello from Container!' > /usr/share/nginx/html/index.html",
    ]);
    assert_eq!(http_get(8080), "Hello from Container!\n");
    let diff = k.ok(&["diff", "cow-test"]);
    assert!(
        diff.lines()
            .any(|l| l == "C /usr/share/nginx/html/index.html"),
        "{diff}"
    );
    // The change is in the container's upper layer only; the image's layer is untouched.
    let (upper, lowers) = layers_of(&k, "cow-test");
    assert_eq!(
        std::fs::read_to_string(upper.join(INDEX)).unwrap(),
        "Hello from Container!\n"
    );
    assert_eq!(lower_index(&lowers), busybox::WELCOME_HTML);
    assert_eq!(image_index(&k), busybox::WELCOME_HTML);

    assert_eq!(k.ok(&["rm", "-f", "cow-test"]), "cow-test\n");
    run_web(&k, "cow-test2", 8080);
    assert_eq!(http_get(8080), busybox::WELCOME_HTML);
    assert_eq!(image_index(&k), busybox::WELCOME_HTML);

    // A deletion: `D` in diff, a whiteout in this container's upper layer, and another
    // container of the same image still has the file.
    k.ok(&[
        "exec",
        "cow-test2",
        "rm",
        "/usr/share/nginx/html/index.html",
    ]);
    let diff = k.ok(&["diff", "cow-test2"]);
    assert!(
        diff.lines()
            .any(|l| l == "D /usr/share/nginx/html/index.html"),
        "{diff}"
    );
    let (upper2, lowers2) = layers_of(&k, "cow-test2");
    let wh = std::fs::symlink_metadata(upper2.join(INDEX)).unwrap();
    assert!(
        wh.file_type().is_char_device() && wh.rdev() == 0,
        "not an overlay whiteout: {wh:?}"
    );
    assert_eq!(lower_index(&lowers2), busybox::WELCOME_HTML);
    let id = k.ok(&["run", "-d", "--name", "cow-test3", "nginx"]);
    assert!(is_id(id.trim()), "{id}");
    assert_eq!(
        k.ok(&[
            "exec",
            "cow-test3",
            "cat",
            "/usr/share/nginx/html/index.html"
        ]),
        busybox::WELCOME_HTML
    );
    let out = k.run(&[
        "exec",
        "cow-test2",
        "cat",
        "/usr/share/nginx/html/index.html",
    ]);
    assert_eq!(common::code(&out), 1);

    assert_eq!(
        k.ok(&["rm", "-f", "cow-test2", "cow-test3"]),
        "cow-test2\ncow-test3\n"
    );
    assert_eq!(k.ok(&["ps", "-a", "-q"]), "");
    assert_one_nginx_image(&k);
    assert_eq!(image_index(&k), busybox::WELCOME_HTML);
}
