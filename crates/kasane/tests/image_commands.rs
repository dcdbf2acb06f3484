//! The image commands of the tutorials (seed 002 and seed 003 exercises 1, 3, 7, 8) on
//! images made by the test support code, compared with docker's output shapes.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Kasane, table};
use kasane_testsupport::{
    DockerArchive, DockerArchiveFormat, History, ImageBuilder, LayerBuilder, classic,
};

/// An nginx-like image: 3 layers, docker classic-builder history, ports, env.
fn nginx_like(seed: u64) -> kasane_testsupport::Image {
    ImageBuilder::new()
        .created(1_700_000_000)
        .layer(
            LayerBuilder::new(seed)
                .dir("bin")
                .file("bin/sh", b"#!fake shell\n".to_vec())
                .dir("etc")
                .file("etc/os-release", b"NAME=test\n".to_vec())
                .build(),
            "/bin/sh -c #(nop) ADD file:abc in / ",
        )
        .history(History::empty(classic::cmd(&["bash"])))
        .layer(
            LayerBuilder::new(seed + 1)
                .dir("usr")
                .dir("usr/share")
                .dir("usr/share/nginx")
                .dir("usr/share/nginx/html")
                .file(
                    "usr/share/nginx/html/index.html",
                    b"Welcome to nginx!\n".to_vec(),
                )
                .random_file("usr/sbin-nginx", 300_000)
                .build(),
            "/bin/sh -c apt-get install -y nginx",
        )
        .history(History::empty(classic::expose(&["80/tcp"])))
        .layer(
            LayerBuilder::new(seed + 2)
                .dir("etc")
                .file("etc/nginx.conf", b"daemon off;\n".to_vec())
                .build(),
            &classic::copy_file(b"daemon off;\n", "/etc/nginx.conf"),
        )
        .history(History::empty(classic::cmd(&[
            "nginx",
            "-g",
            "daemon off;",
        ])))
        .env("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .env("NGINX_VERSION=1.27.0")
        .expose("80/tcp")
        .cmd(&["nginx", "-g", "daemon off;"])
        .build()
}

fn load(k: &Kasane, tags: &[&str], image: &kasane_testsupport::Image) {
    let path = k.path(&format!("{}.tar", image.id().hex()));
    DockerArchive::new(DockerArchiveFormat::Oci)
        .image(tags, image)
        .write(&path)
        .unwrap();
    let out = k.ok(&["load", "-i", path.to_str().unwrap()]);
    for t in tags {
        assert!(out.contains(&format!("Loaded image: {t}")), "{out}");
    }
}

#[test]
fn exercise_1_images_lists_what_is_there() {
    let k = Kasane::new();
    let out = k.ok(&["images"]);
    assert_eq!(out, "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n");
    let img = nginx_like(1);
    load(&k, &["nginx:latest"], &img);
    let out = k.ok(&["images"]);
    let rows = table(&out);
    assert_eq!(
        rows[0],
        ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]
    );
    assert_eq!(rows.len(), 2, "{out}");
    assert_eq!(rows[1][0], "nginx");
    assert_eq!(rows[1][1], "latest");
    assert_eq!(rows[1][2], &img.id().hex()[..12]);
    assert!(rows[1][3].ends_with(" ago"), "{out}");
    assert!(
        rows[1][4].ends_with("kB") || rows[1][4].ends_with("MB"),
        "{out}"
    );
    // docker images nginx / --filter / --format as in seed 002.
    assert_eq!(k.ok(&["images", "-q"]).trim(), &img.id().hex()[..12]);
    assert_eq!(table(&k.ok(&["images", "nginx"])).len(), 2);
    assert_eq!(table(&k.ok(&["images", "redis"])).len(), 1);
    assert_eq!(
        table(&k.ok(&["images", "--filter", "dangling=true"])).len(),
        1
    );
    let sized = k.ok(&["images", "--format", "{{.Repository}}:{{.Tag}} - {{.Size}}"]);
    assert!(sized.starts_with("nginx:latest - "), "{sized}");
    assert_eq!(
        k.ok(&["images", "--no-trunc", "-q"]).trim(),
        img.id().as_str()
    );
}

#[test]
fn exercise_3_history_and_layer_count() {
    let k = Kasane::new();
    let img = nginx_like(10);
    load(&k, &["nginx:latest"], &img);
    let out = k.ok(&["history", "nginx"]);
    let rows = table(&out);
    assert_eq!(
        rows[0],
        ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]
    );
    // 6 history entries: 3 layers and 3 metadata steps, newest first.
    assert_eq!(rows.len(), 7, "{out}");
    assert_eq!(rows[1][0], &img.id().hex()[..12]);
    assert!(
        rows[1][2].starts_with("/bin/sh -c #(nop)  CMD [\"nginx\""),
        "{out}"
    );
    assert_eq!(rows[1][3], "0B");
    for r in &rows[2..] {
        assert_eq!(r[0], "<missing>", "{out}");
    }
    // CREATED BY is cut at 45 columns with an ellipsis.
    assert!(out.lines().any(|l| l.contains("…")), "{out}");
    assert_eq!(
        k.ok(&["inspect", "--format={{len .RootFS.Layers}}", "nginx"]),
        "3\n"
    );
    let raw = k.ok(&["history", "-H=false", "--no-trunc", "nginx"]);
    assert!(raw.contains("CREATED AT"), "{raw}");
    assert!(raw.contains("300"), "{raw}");
    assert_eq!(k.ok(&["history", "-q", "nginx"]).lines().count(), 6);
}

#[test]
fn exercise_8_inspect_format() {
    let k = Kasane::new();
    let img = nginx_like(20);
    load(&k, &["nginx:latest"], &img);
    let size: u64 = k
        .ok(&["inspect", "--format={{.Size}}", "nginx"])
        .trim()
        .parse()
        .unwrap();
    let expected: u64 = 300_000 + 18 + 13 + 10 + 12;
    assert_eq!(size, expected);
    assert_eq!(
        k.ok(&["inspect", "--format={{len .RootFS.Layers}}", "nginx"]),
        "3\n"
    );
    assert_eq!(
        k.ok(&["inspect", "--format={{.Config.ExposedPorts}}", "nginx"]),
        "map[80/tcp:{}]\n"
    );
    assert_eq!(
        k.ok(&["inspect", "--format={{.Config.Env}}", "nginx:latest"]),
        "[PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin NGINX_VERSION=1.27.0]\n"
    );
    let json = k.ok(&["inspect", "--format", "{{json .Config}}", "nginx"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["Cmd"], serde_json::json!(["nginx", "-g", "daemon off;"]));
    // Index out of range fails like docker (exit 1); a bad template is exit 64.
    let (code, err) = k.fail(&["inspect", "--format", "{{index .RepoDigests 0}}", "nginx"]);
    assert_eq!(code, 1, "{err}");
    let (code, _) = k.fail(&["inspect", "--format", "{{.Size", "nginx"]);
    assert_eq!(code, 64);
    // The full JSON has docker's key order.
    let full = k.ok(&["inspect", "nginx"]);
    let keys: Vec<&str> = full
        .lines()
        .filter(|l| l.starts_with("        \"") && !l.starts_with("         "))
        .map(|l| l.trim().split('"').nth(1).unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "Id",
            "RepoTags",
            "RepoDigests",
            "Parent",
            "Comment",
            "Created",
            "DockerVersion",
            "Author",
            "Config",
            "Architecture",
            "Os",
            "Size",
            "GraphDriver",
            "RootFS",
            "Metadata"
        ]
    );
    let (code, err) = k.fail(&["inspect", "nosuch"]);
    assert_eq!(code, 1);
    assert!(err.contains("No such object: nosuch"), "{err}");
}

#[test]
fn tag_rmi_and_dangling_images() {
    let k = Kasane::new();
    let img = nginx_like(30);
    load(&k, &["myapp:latest"], &img);
    assert_eq!(k.ok(&["tag", "myapp:latest", "myapp:v1.0.0"]), "");
    assert_eq!(k.ok(&["tag", "myapp", "myregistry.com/myapp:v1.0.0"]), "");
    let rows = table(&k.ok(&["images"]));
    assert_eq!(rows.len(), 4, "{rows:?}");
    // By ID with tags in two repositories: refused without -f.
    let (code, err) = k.fail(&["rmi", &img.id().hex()[..12]]);
    assert_eq!(code, 1);
    assert!(err.contains("must be forced"), "{err}");
    assert_eq!(k.ok(&["rmi", "myapp:v1.0.0"]), "Untagged: myapp:v1.0.0\n");
    assert_eq!(
        k.ok(&["rmi", "myregistry.com/myapp:v1.0.0"]),
        "Untagged: myregistry.com/myapp:v1.0.0\n"
    );
    let out = k.ok(&["rmi", "myapp"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Untagged: myapp:latest");
    assert_eq!(lines[1], format!("Deleted: {}", img.id().as_str()));
    assert_eq!(lines.len(), 2 + 3, "one Deleted line per layer: {out}");
    assert_eq!(k.ok(&["images", "-q"]), "");
    let (code, err) = k.fail(&["rmi", "nosuch"]);
    assert_eq!(code, 1);
    assert!(err.contains("No such image: nosuch:latest"), "{err}");
    assert!(
        k.store_files()
            .iter()
            .all(|f| !f.starts_with("blobs/sha256/")),
        "{:?}",
        k.store_files()
    );
    k.check_clean();
}

#[test]
fn a_moved_tag_leaves_a_dangling_image_that_prune_removes() {
    let k = Kasane::new();
    let v1 = nginx_like(40);
    let v2 = nginx_like(50);
    load(&k, &["app:latest"], &v1);
    let path = k.path("v2.tar");
    DockerArchive::new(DockerArchiveFormat::Oci)
        .image(&["app:latest"], &v2)
        .write(&path)
        .unwrap();
    let out = k.ok(&["load", "-i", path.to_str().unwrap()]);
    assert!(
        out.contains(&format!(
            "The image app:latest already exists, renaming the old one with ID {} to empty string",
            v1.id().as_str()
        )),
        "{out}"
    );
    let dangling = k.ok(&["images", "--filter", "dangling=true", "-q"]);
    assert_eq!(dangling.trim(), &v1.id().hex()[..12]);
    let rows = table(&k.ok(&["images"]));
    assert!(
        rows.iter().any(|r| r[0] == "<none>" && r[1] == "<none>"),
        "{rows:?}"
    );
    let out = k.ok(&["image", "prune", "-f"]);
    assert!(out.starts_with("Deleted Images:\ndeleted: "), "{out}");
    assert!(out.contains(v1.id().as_str()), "{out}");
    assert!(
        out.trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("Total reclaimed space: "),
        "{out}"
    );
    assert_eq!(k.ok(&["images", "-q"]).trim(), &v2.id().hex()[..12]);
    assert_eq!(
        k.ok(&["image", "prune", "-f"]),
        "Total reclaimed space: 0B\n"
    );
    k.check_clean();
}

#[test]
fn exercise_7_system_df_reclaimable_is_what_prune_frees() {
    let k = Kasane::new();
    // Two images sharing a base layer.
    let base = std::sync::Arc::new(
        LayerBuilder::new(7)
            .dir("base")
            .random_file("base/lib", 200_000)
            .build(),
    );
    let a = ImageBuilder::new()
        .layer(std::sync::Arc::clone(&base), "ADD base")
        .layer(
            LayerBuilder::new(8).random_file("a", 50_000).build(),
            "ADD a",
        )
        .build();
    let b = ImageBuilder::new()
        .layer(base, "ADD base")
        .layer(
            LayerBuilder::new(9).random_file("b", 70_000).build(),
            "ADD b",
        )
        .build();
    load(&k, &["a:1"], &a);
    load(&k, &["b:1"], &b);
    // Stored once: 3 layer snapshots (the base shared), 3 layer blobs + 2 configs + 2 manifests.
    let snapshots = std::fs::read_dir(k.root.join("snapshots"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().is_dir())
        .count();
    assert_eq!(snapshots, 3);
    assert_eq!(
        std::fs::read_dir(k.root.join("blobs/sha256"))
            .unwrap()
            .count(),
        7
    );
    let df = k.ok(&["system", "df"]);
    let rows = table(&df);
    assert_eq!(rows[0], ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]);
    assert_eq!(rows[1][0], "Images");
    assert_eq!(rows[1][1], "2");
    // The shared base is counted once: 200 kB + 50 kB + 70 kB.
    assert_eq!(rows[1][3], "320kB", "{df}");
    assert_eq!(rows[1][4], "320kB (100%)", "{df}");
    assert_eq!(
        rows.iter().map(|r| r[0].as_str()).collect::<Vec<_>>(),
        [
            "TYPE",
            "Images",
            "Containers",
            "Local Volumes",
            "Build Cache"
        ]
    );
    let verbose = k.ok(&["system", "df", "-v"]);
    assert!(
        verbose.starts_with("Images space usage:\n\nREPOSITORY"),
        "{verbose}"
    );
    assert!(verbose.contains("200kB"), "shared size shown: {verbose}");
    // rmi of one keeps the other whole and the shared layer.
    k.ok(&["rmi", "a:1"]);
    k.check_clean();
    assert_eq!(
        k.ok(&["inspect", "--format={{len .RootFS.Layers}}", "b:1"]),
        "2\n"
    );
    let df = table(&k.ok(&["system", "df"]));
    assert_eq!(df[1][3], "270kB");
    let reclaimable = df[1][4].split(' ').next().unwrap().to_owned();
    let pruned = k.ok(&["image", "prune", "-a", "-f"]);
    assert!(
        pruned.ends_with(&format!("Total reclaimed space: {reclaimable}\n")),
        "{pruned} vs {reclaimable}"
    );
    let out = k.ok(&["system", "prune", "-f"]);
    assert!(out.ends_with("Total reclaimed space: 0B\n"), "{out}");
    assert_eq!(
        k.store_files()
            .iter()
            .filter(|f| f.starts_with("blobs/sha256/"))
            .count(),
        0
    );
}

#[test]
fn import_makes_a_runnable_one_layer_image() {
    let k = Kasane::new();
    let img = nginx_like(60);
    let tarball = k.path("rootfs.tar.gz");
    img.write_rootfs_tar(&tarball, true).unwrap();
    let out = k.ok(&[
        "import",
        "-c",
        "CMD [\"httpd\",\"-f\"]",
        "-c",
        "EXPOSE 80",
        "-m",
        "hello",
        tarball.to_str().unwrap(),
        "web:1",
    ]);
    assert!(
        out.starts_with("sha256:") && out.trim().len() == 71,
        "{out}"
    );
    assert_eq!(
        k.ok(&[
            "inspect",
            "--format={{.Config.Cmd}} {{.Config.ExposedPorts}} {{.Comment}}",
            "web:1"
        ]),
        "[httpd -f] map[80/tcp:{}] hello\n"
    );
    let hist = table(&k.ok(&["history", "web:1"]));
    assert_eq!(hist.len(), 2);
    assert_eq!(hist[1].last().unwrap(), "hello");
    // From stdin, without a name: dangling.
    let out = k
        .cmd(&["import", "-"])
        .pipe_stdin(&tarball)
        .unwrap()
        .output()
        .unwrap();
    assert!(out.status.success());
    let rows = table(&k.ok(&["images"]));
    assert!(rows.iter().any(|r| r[0] == "<none>"), "{rows:?}");
    k.check_clean();
}

#[test]
fn label_and_until_filters() {
    let k = Kasane::new();
    let old = ImageBuilder::new()
        .created(1_600_000_000)
        .label("tier", "web")
        .layer(
            LayerBuilder::new(71).file("a", b"a".to_vec()).build(),
            "ADD a",
        )
        .build();
    let new = ImageBuilder::new()
        .created(1_700_000_000)
        .label("tier", "db")
        .layer(
            LayerBuilder::new(72).file("b", b"b".to_vec()).build(),
            "ADD b",
        )
        .build();
    load(&k, &["old:1"], &old);
    load(&k, &["new:1"], &new);
    let web = k.ok(&[
        "images",
        "--filter",
        "label=tier=web",
        "--format",
        "{{.Repository}}",
    ]);
    assert_eq!(web, "old\n");
    let any = k.ok(&[
        "images",
        "--filter",
        "label=tier",
        "--format",
        "{{.Repository}}",
    ]);
    assert_eq!(any.lines().count(), 2, "{any}");
    // Prune only what is older than 2022 and not a db.
    let out = k.ok(&[
        "image",
        "prune",
        "-a",
        "-f",
        "--filter",
        "until=2022-01-01T00:00:00Z",
        "--filter",
        "label!=tier=db",
    ]);
    assert!(
        out.contains(old.id().as_str()) && !out.contains(new.id().as_str()),
        "{out}"
    );
    assert_eq!(k.ok(&["images", "--format", "{{.Repository}}"]), "new\n");
    let (code, err) = k.fail(&["image", "prune", "-f", "--filter", "until=someday"]);
    assert_eq!(code, 1);
    assert!(err.contains("until=someday"), "{err}");
}
