//! Writes the benchmark fixtures as docker archives (gzip layers), deterministically:
//!
//! - `multilayer.tar`: six layers, ~250 MB compressed, shaped like a real application image —
//!   a base tree, 20 000 small files, one 256 MiB file (3/4 incompressible), links and
//!   special modes, whiteouts over the base, 32 MiB of text; plus metadata-only history.
//! - `small.tar`: a one-layer ~2 MB image (for latency benchmarks).
//!
//! Usage: `cargo run --release -p kasane-testsupport --example bench_fixture -- OUT_DIR [SCALE]`
//! (SCALE divides every size, for quick runs).
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;
use std::sync::Arc;

use kasane_testsupport::{
    Compression, DockerArchive, DockerArchiveFormat, History, ImageBuilder, LayerBuilder, classic,
};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().unwrap_or_else(|| "bench-fixtures".into()));
    let scale: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1).max(1);
    std::fs::create_dir_all(&out)?;

    let base = Arc::new(LayerBuilder::random_tree(11, (12_000 / scale) as usize).build());
    let small = LayerBuilder::many_small_files((20_000 / scale) as usize, 12).build();
    let big = LayerBuilder::one_large_file((256 << 20) / scale, 13).build();
    let links = LayerBuilder::new(14)
        .dir("links")
        .file("links/target", b"target\n".to_vec())
        .symlink("links/sym", "target")
        .hardlink("links/hard", "links/target")
        .fifo("links/fifo")
        .build();
    let whiteouts = LayerBuilder::new(15)
        .whiteout("small")
        .dir("opaque")
        .opaque("opaque")
        .file("opaque/kept", b"kept\n".to_vec())
        .build();
    let text = LayerBuilder::new(16)
        .text_file("docs/big.txt", (32 << 20) / scale)
        .build();

    let multilayer = ImageBuilder::new()
        .created(1_700_000_000)
        .layer(Arc::clone(&base), "/bin/sh -c #(nop) ADD file:base in / ")
        .history(History::empty(classic::label(&[("org.example", "bench")])))
        .layer(small, "/bin/sh -c #(nop) COPY dir:small in /small ")
        .history(History::empty(classic::env(&[("APP", "bench")])))
        .layer(big, "/bin/sh -c #(nop) COPY file:big in /big.bin ")
        .layer(links, "/bin/sh -c ln -s target links/sym")
        .layer(whiteouts, "/bin/sh -c rm -rf /small")
        .history(History::empty(classic::workdir("/app")))
        .layer(text, "/bin/sh -c #(nop) COPY file:text in /docs ")
        .history(History::empty(classic::cmd(&["sh"])))
        .env("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .cmd(&["sh"])
        .compression(Compression::Gzip)
        .build();
    DockerArchive::new(DockerArchiveFormat::Oci)
        .image(&["bench/multilayer:v1"], &multilayer)
        .write(&out.join("multilayer.tar"))?;

    let small_image = ImageBuilder::new()
        .created(1_700_000_000)
        .layer(
            LayerBuilder::random_tree(21, 300).build(),
            "/bin/sh -c #(nop) ADD file:small in / ",
        )
        .cmd(&["sh"])
        .compression(Compression::Gzip)
        .build();
    DockerArchive::new(DockerArchiveFormat::Oci)
        .image(&["bench/small:v1"], &small_image)
        .write(&out.join("small.tar"))?;
    println!("{}", out.display());
    Ok(())
}
