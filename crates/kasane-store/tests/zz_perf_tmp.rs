#![allow(clippy::unwrap_used)]
mod common;
use std::fs::File;
use std::io::Write;
use std::time::Instant;
use kasane_oci::{Descriptor, Digest, media_type};
use kasane_store::archive::*;
use kasane_store::copy::*;
use kasane_store::local::LocalStore;
use kasane_store::{Ingester, Provider};

#[test]
fn perf() {
    let base = std::path::PathBuf::from("/tmp/kasane-perf");
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let a = LocalStore::open(&base.join("a")).unwrap();
    let size = 768usize << 20;
    let mut data = vec![0u8; size];
    let mut x: u64 = 1;
    for c in data.chunks_mut(8) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; c.copy_from_slice(&x.to_le_bytes()[..c.len()]); }
    let t = Instant::now();
    let layer = common::put(&a, media_type::OCI_LAYER_TAR, &data);
    eprintln!("ingest {} MiB: {:?}", size >> 20, t.elapsed());
    let cfg = common::put(&a, media_type::OCI_CONFIG, &common::config_json(&common::linux("amd64"), &[layer.digest.clone()], "p"));
    let m = kasane_oci::Manifest::new(media_type::OCI_MANIFEST, cfg, vec![layer.clone()]).to_json();
    let man = common::put(&a, media_type::OCI_MANIFEST, &m);
    drop(data);
    let path = base.join("s.tar");
    let t = Instant::now();
    let sink = DockerArchiveWriter::new(File::create(&path).unwrap());
    copy_graph(&a, &sink, &|d| Ok(sink.has(d)), &man, &CopyOptions::default()).unwrap();
    sink.finish(&[SaveImage{root: man.clone(), names: vec![]}]).unwrap().sync_all().unwrap();
    eprintln!("save: {:?}", t.elapsed());
    let b = LocalStore::open(&base.join("b")).unwrap();
    let t = Instant::now();
    let ar = open_archive(&path).unwrap();
    eprintln!("open: {:?}", t.elapsed());
    copy_graph(ar.as_provider(), &b, &|d| Ok(b.contains(d)?.is_some()), &ar.images()[0].manifest, &CopyOptions::default()).unwrap();
    eprintln!("load: {:?}", t.elapsed());
    let t = Instant::now();
    b.verify(&layer.digest).unwrap();
    eprintln!("verify: {:?}", t.elapsed());
    let _ = (Descriptor::new("x", Digest::sha256_of(b""), 0), std::io::sink().flush());
    let _: Option<&dyn Ingester> = None;
}
