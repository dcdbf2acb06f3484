use super::*;
use std::io::Read;

fn listing(layer: &Layer) -> Vec<(String, tar::EntryType, u32, u64, Vec<u8>)> {
    let mut ar = tar::Archive::new(layer.tar());
    ar.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let path = String::from_utf8(e.path_bytes().into_owned()).unwrap();
            let h = e.header().clone();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (
                path,
                h.entry_type(),
                h.mode().unwrap(),
                h.mtime().unwrap(),
                data,
            )
        })
        .collect()
}

#[test]
fn normalize_cases() {
    for (input, want) in [
        ("/a/b/", "a/b"),
        ("./a", "a"),
        ("a", "a"),
        ("/", ""),
        (".", ""),
        ("././x/", "x"),
        ("//x", "x"),
    ] {
        assert_eq!(normalize(input), want, "{input}");
    }
}

#[test]
fn order_is_depth_first_with_whiteouts_first_and_parents_implicit() {
    let layer = LayerBuilder::new(1)
        .file("a-c", "1")
        .file("a/b", "2")
        .whiteout("a/zzz")
        .opaque("a")
        .file("x/y/z", "3")
        .build();
    let paths: Vec<String> = listing(&layer).into_iter().map(|e| e.0).collect();
    assert_eq!(
        paths,
        [
            "a/",
            "a/.wh..wh..opq",
            "a/.wh.zzz",
            "a/b",
            "a-c",
            "x/",
            "x/y/",
            "x/y/z"
        ]
    );
}

#[test]
fn deterministic_and_seed_sensitive() {
    let make = |seed| {
        LayerBuilder::new(seed)
            .random_file("r", 1000)
            .text_file("t", 1000)
            .build()
    };
    assert_eq!(make(1).diff_id(), make(1).diff_id());
    assert_ne!(make(1).diff_id(), make(2).diff_id());
    // Insertion order does not matter.
    let a = LayerBuilder::new(3)
        .random_file("p", 10)
        .random_file("q", 10)
        .build();
    let b = LayerBuilder::new(3)
        .random_file("q", 10)
        .random_file("p", 10)
        .build();
    assert_eq!(a.diff_id(), b.diff_id());
    assert_eq!(a.file_digest("p"), b.file_digest("/p"));
}

#[test]
fn every_kind_round_trips() {
    let layer = LayerBuilder::new(9)
        .entry(Entry::dir("d").mode(0o700).owner(1000, 1000).mtime(5))
        .entry(Entry::file("d/suid", "x").mode(0o4755).xattr("user.k", "v"))
        .symlink("d/sl", "/etc/passwd")
        .hardlink("d/a-link", "d/suid")
        .char_device("dev/null", 1, 3)
        .block_device("dev/sda", 8, 0)
        .fifo("d/pipe")
        .build();
    let mut ar = tar::Archive::new(layer.tar());
    let mut seen = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let exts: Vec<(String, Vec<u8>)> = e
            .pax_extensions()
            .unwrap()
            .map(|x| {
                x.map(|x| x.unwrap())
                    .map(|x| (x.key().unwrap().to_string(), x.value_bytes().to_vec()))
                    .collect()
            })
            .unwrap_or_default();
        seen.push((
            path,
            h.entry_type(),
            h.mode().unwrap(),
            h.uid().unwrap(),
            h.mtime().unwrap(),
            exts,
            h.link_name()
                .unwrap()
                .map(|l| l.to_string_lossy().into_owned()),
            h.device_major().unwrap(),
            h.device_minor().unwrap(),
        ));
    }
    let by_path: BTreeMap<_, _> = seen.iter().map(|s| (s.0.clone(), s)).collect();
    assert_eq!(by_path["d/"].1, tar::EntryType::Directory);
    assert_eq!(
        (by_path["d/"].2, by_path["d/"].3, by_path["d/"].4),
        (0o700, 1000, 5)
    );
    assert_eq!(by_path["d/suid"].2, 0o4755);
    assert_eq!(
        by_path["d/suid"].5,
        vec![("SCHILY.xattr.user.k".to_string(), b"v".to_vec())]
    );
    assert_eq!(by_path["d/sl"].6.as_deref(), Some("/etc/passwd"));
    assert_eq!(by_path["d/a-link"].1, tar::EntryType::Link);
    assert_eq!(by_path["dev/null"].1, tar::EntryType::Char);
    assert_eq!(
        (by_path["dev/null"].7, by_path["dev/null"].8),
        (Some(1), Some(3))
    );
    assert_eq!(by_path["dev/sda"].1, tar::EntryType::Block);
    assert_eq!(by_path["d/pipe"].1, tar::EntryType::Fifo);
    // The hard link sorts before its target by name but is written after it.
    let order: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
    let link = order.iter().position(|p| *p == "d/a-link").unwrap();
    let target = order.iter().position(|p| *p == "d/suid").unwrap();
    assert!(target < link, "{order:?}");
    assert_eq!(Digest::sha256(layer.tar()), *layer.diff_id());
}

#[test]
fn default_mtime_applies_to_unset_entries() {
    let layer = LayerBuilder::new(0)
        .default_mtime(123)
        .file("f", "")
        .entry(Entry::file("g", "").mtime(7))
        .build();
    let l = listing(&layer);
    assert_eq!(l[0].3, 123);
    assert_eq!(l[1].3, 7);
}

#[test]
fn compressed_blobs_decompress_to_the_tar() {
    let layer = LayerBuilder::new(5).text_file("t", 100_000).build();
    let gz = layer.blob(Compression::Gzip);
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(gz.data())
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, layer.tar());
    assert!(gz.size < layer.size() / 2, "text compresses");
    let zs = layer.blob(Compression::Zstd);
    assert_eq!(zstd::stream::decode_all(zs.data()).unwrap(), layer.tar());
    assert_eq!(zs.digest, Digest::sha256(zs.data()));
    assert!(Arc::ptr_eq(&gz, &layer.blob(Compression::Gzip)), "cached");
    assert_eq!(layer.blob(Compression::None).digest, *layer.diff_id());
}

#[test]
fn rootfs_tar_refuses_whiteouts() {
    let dir = tempfile::tempdir().unwrap();
    let layer = LayerBuilder::new(0).whiteout("x").build();
    let err = layer
        .write_rootfs_tar(&dir.path().join("r.tar"), false)
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    let ok = LayerBuilder::new(0).file("x", "y").build();
    ok.write_rootfs_tar(&dir.path().join("r.tar.gz"), true)
        .unwrap();
    let bytes = std::fs::read(dir.path().join("r.tar.gz")).unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b]);
}
