//! Volumes end to end: `volume create|ls|inspect|rm|prune` with docker's outputs, and how
//! containers make, share, keep and remove them (`-v name:/p`, `-v /p`, image `VOLUME`s,
//! `rm -v`, `--rm`, `system df`, `system prune --volumes`).
#![allow(clippy::unwrap_used)]

mod common;

use common::{Cleanup, Kasane, table};
use kasane_testsupport::busybox;

fn names(k: &Kasane, args: &[&str]) -> Vec<String> {
    let mut a = vec!["volume", "ls", "-q"];
    a.extend_from_slice(args);
    k.ok(&a).lines().map(str::to_owned).collect()
}

#[test]
fn volume_commands_print_what_docker_prints() {
    let k = Kasane::new();
    assert_eq!(k.ok(&["volume", "ls"]), "DRIVER    VOLUME NAME\n");
    assert_eq!(k.ok(&["volume", "create", "vol10"]), "vol10\n");
    assert_eq!(
        k.ok(&["volume", "create", "--label", "env=prod", "vol2"]),
        "vol2\n"
    );
    // Creating an existing volume succeeds and changes nothing.
    assert_eq!(k.ok(&["volume", "create", "vol2"]), "vol2\n");
    let generated = k.ok(&["volume", "create"]).trim().to_owned();
    assert!(
        generated.len() == 64 && generated.bytes().all(|b| b.is_ascii_hexdigit()),
        "{generated}"
    );

    // Natural order: vol2 before vol10.
    assert_eq!(
        k.ok(&["volume", "ls"]),
        format!("DRIVER    VOLUME NAME\nlocal     {generated}\nlocal     vol2\nlocal     vol10\n")
    );
    assert_eq!(names(&k, &["-f", "label=env=prod"]), ["vol2"]);
    assert_eq!(names(&k, &["-f", "name=vol1"]), ["vol10"]);
    assert_eq!(names(&k, &["-f", "dangling=false"]), Vec::<String>::new());
    assert_eq!(names(&k, &["-f", "dangling=1"]).len(), 3);
    assert_eq!(
        k.ok(&[
            "volume",
            "ls",
            "--format",
            "{{.Name}} {{.Driver}} {{.Scope}} {{.Labels}}"
        ]),
        format!(
            "{generated} local local com.docker.volume.anonymous=\nvol2 local local env=prod\nvol10 local local \n"
        )
    );
    let (c, err) = k.fail(&["volume", "ls", "-f", "colour=red"]);
    assert_eq!(c, 1, "{err}");
    assert!(err.contains("invalid filter 'colour'"), "{err}");

    // inspect: docker's keys, `null` for empty maps, the anonymous label.
    let v: serde_json::Value =
        serde_json::from_str(&k.ok(&["volume", "inspect", "vol10", "vol2"])).unwrap();
    let first = &v[0];
    let keys: Vec<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "CreatedAt",
            "Driver",
            "Labels",
            "Mountpoint",
            "Name",
            "Options",
            "Scope"
        ]
    );
    assert_eq!(first["Labels"], serde_json::Value::Null);
    assert_eq!(first["Options"], serde_json::Value::Null);
    assert_eq!(first["Driver"], "local");
    let mountpoint = first["Mountpoint"].as_str().unwrap();
    assert!(mountpoint.ends_with("/volumes/vol10/_data"), "{mountpoint}");
    assert!(std::path::Path::new(mountpoint).is_dir());
    let created = first["CreatedAt"].as_str().unwrap();
    assert!(!created.contains('.') && created.len() >= 20, "{created}");
    assert_eq!(v[1]["Labels"]["env"], "prod");
    assert_eq!(
        k.ok(&[
            "volume",
            "inspect",
            "-f",
            "{{.Name}}:{{index .Labels \"env\"}}",
            "vol2"
        ]),
        "vol2:prod\n"
    );
    assert_eq!(
        k.ok(&["volume", "inspect", "-f", "{{.Labels}}", &generated]),
        "map[com.docker.volume.anonymous:]\n"
    );
    // The untyped inspect finds volumes too.
    assert_eq!(
        k.ok(&["inspect", "-f", "{{.Mountpoint}}", "vol10"]),
        format!("{mountpoint}\n")
    );
    assert_eq!(
        k.ok(&["inspect", "--type", "volume", "-f", "{{.Driver}}", "vol10"]),
        "local\n"
    );

    let (c, err) = k.fail(&["volume", "inspect", "nope"]);
    assert_eq!(c, 1);
    assert_eq!(
        err,
        "Error response from daemon: get nope: no such volume\n"
    );
    let (c, err) = k.fail(&["volume", "create", "a"]);
    assert_eq!(c, 1);
    assert!(err.contains("create a: volume name is too short"), "{err}");
    let (c, err) = k.fail(&["volume", "create", "no/slash"]);
    assert_eq!(c, 1);
    assert!(
        err.contains("includes invalid characters for a local volume name"),
        "{err}"
    );
    let (c, err) = k.fail(&["volume", "create", "-o", "type=tmpfs", "tv"]);
    assert_eq!(c, 1);
    assert!(err.contains("take no driver options"), "{err}");

    // rm: names printed, missing ones an error unless -f.
    let out = k.run(&["volume", "rm", "vol10", "nope"]);
    assert_eq!(common::code(&out), 1);
    assert_eq!(common::stdout(&out), "vol10\n");
    assert_eq!(
        common::stderr(&out),
        "Error response from daemon: get nope: no such volume\n"
    );
    assert_eq!(k.ok(&["volume", "rm", "-f", "nope"]), "nope\n");

    // prune: anonymous volumes only, unless -a.
    assert_eq!(
        k.ok(&["volume", "prune", "-f"]),
        format!("Deleted Volumes:\n{generated}\n\nTotal reclaimed space: 0B\n")
    );
    assert_eq!(names(&k, &[]), ["vol2"]);
    std::fs::write(k.root.join("volumes/vol2/_data/f"), b"12345").unwrap();
    assert_eq!(
        k.ok(&["volume", "prune", "-f", "-a", "--filter", "label=env=dev"]),
        "Total reclaimed space: 0B\n"
    );
    assert_eq!(
        k.ok(&["volume", "prune", "-f", "-a"]),
        "Deleted Volumes:\nvol2\n\nTotal reclaimed space: 5B\n"
    );
    assert_eq!(k.ok(&["volume", "ls", "-q"]), "");
    assert!(k.check_clean().contains(" 0 leftovers"));

    // A removal cut short leaves a renamed directory: check reports it, --repair removes it.
    let half = k.root.join("volumes/.removing-gone-1");
    std::fs::create_dir_all(half.join("_data")).unwrap();
    assert_eq!(k.ok(&["volume", "ls", "-q"]), "");
    let out = k.check_clean();
    assert!(out.contains("leftover: half-removed volume"), "{out}");
    let out = k.ok(&["system", "check", "--repair"]);
    assert!(out.contains("removed half-removed volume"), "{out}");
    assert!(!half.exists());
}

#[test]
fn containers_make_share_and_keep_volumes() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    // An image that declares `VOLUME /usr/share/nginx/html` over a file of its own.
    let volimg = busybox::base_builder()
        .layer(busybox::nginx_html_layer(), "COPY index.html")
        .volume("/usr/share/nginx/html")
        .cmd(&["sh"])
        .build();
    k.load_image("volimg:latest", &volimg);
    let _c = Cleanup::new(&k, &["user1", "user2", "imgvol", "anon"]);

    // A named volume is made at create and shared by containers.
    k.ok(&[
        "create",
        "--name",
        "user1",
        "-v",
        "shared:/data",
        img,
        "sh",
        "-c",
        "echo one > /data/f",
    ]);
    assert_eq!(names(&k, &[]), ["shared"]);
    k.ok(&["start", "-a", "user1"]);
    assert_eq!(
        k.ok(&["run", "--rm", "-v", "shared:/d", img, "cat", "/d/f"]),
        "one\n"
    );
    // In use by a stopped container: rm refuses with docker's message, even with -f.
    let id = k.field("user1", "{{.Id}}");
    for args in [
        &["volume", "rm", "shared"][..],
        &["volume", "rm", "-f", "shared"],
    ] {
        let (c, err) = k.fail(args);
        assert_eq!(c, 1);
        assert_eq!(
            err,
            format!("Error response from daemon: remove shared: volume is in use - [{id}]\n")
        );
    }
    assert_eq!(names(&k, &["-f", "dangling=true"]), Vec::<String>::new());

    // system df counts volumes: one, active, 4 bytes.
    let df = table(&k.ok(&["system", "df"]));
    let row = df.iter().find(|r| r[0] == "Local Volumes").unwrap();
    assert_eq!(&row[1..], ["1", "1", "4B", "0B (0%)"], "{df:?}");

    // rm without -v keeps every volume; removing the last user frees a named volume but
    // never removes it.
    k.ok(&["rm", "-v", "user1"]);
    assert_eq!(names(&k, &["-f", "dangling=true"]), ["shared"]);

    // An image VOLUME becomes an anonymous volume, filled with the image's files, listed
    // in Mounts; `rm -v` removes it.
    k.ok(&[
        "run",
        "--name",
        "imgvol",
        "volimg",
        "cat",
        "/usr/share/nginx/html/index.html",
    ]);
    assert_eq!(k.ok(&["logs", "imgvol"]), busybox::WELCOME_HTML);
    let anon = k.field("imgvol", "{{range .Mounts}}{{.Name}}{{end}}");
    assert_eq!(anon.len(), 64, "{anon}");
    assert_eq!(
        k.field(
            "imgvol",
            "{{range .Mounts}}{{.Type}} {{.Destination}}{{end}}"
        ),
        "volume /usr/share/nginx/html"
    );
    assert_eq!(
        k.ok(&["volume", "inspect", "-f", "{{.Labels}}", &anon]),
        "map[com.docker.volume.anonymous:]\n"
    );
    // A user mount over the same path replaces the image's volume.
    k.ok(&[
        "run",
        "--rm",
        "-v",
        "shared:/usr/share/nginx/html",
        "volimg",
        "true",
    ]);
    assert_eq!(names(&k, &[]).len(), 2);
    k.ok(&["rm", "-v", "imgvol"]);
    assert_eq!(names(&k, &[]), ["shared"]);

    // `--rm` removes its anonymous volumes and keeps named ones.
    k.ok(&[
        "run",
        "--rm",
        "-v",
        "/scratch",
        "-v",
        "shared:/s",
        img,
        "true",
    ]);
    assert_eq!(names(&k, &[]), ["shared"]);

    // An anonymous volume of a removed container is dangling: system prune --volumes
    // removes it, and keeps the named one even with -a.
    k.ok(&["run", "--name", "anon", "-v", "/scratch", img, "true"]);
    let anon = k.field("anon", "{{range .Mounts}}{{.Name}}{{end}}");
    k.ok(&["rm", "anon"]);
    let out = k.ok(&["system", "prune", "-f", "-a", "--volumes"]);
    assert!(
        out.contains(&format!("Deleted Volumes:\n{anon}\n\n")),
        "{out}"
    );
    assert_eq!(names(&k, &[]), ["shared"]);
    k.ok(&["volume", "rm", "shared"]);
    assert!(k.check_clean().contains(" 0 leftovers"));
}

#[test]
fn duplicate_mount_points_are_refused() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let (c, err) = k.fail(&["create", "-v", "a1:/d", "-v", "a2:/d/", img]);
    assert_eq!(c, 125, "{err}");
    assert!(err.contains("Duplicate mount point: /d"), "{err}");
    assert_eq!(k.ok(&["volume", "ls", "-q"]), "");
}
