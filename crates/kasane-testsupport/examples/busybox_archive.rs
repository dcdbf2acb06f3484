//! Writes the busybox test image as a docker-archive, for `bench/containers.sh`:
//! `cargo run -p kasane-testsupport --example busybox_archive -- OUT.tar [TAG]`.

use kasane_testsupport::busybox;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(out) = args.next() else {
        eprintln!("usage: busybox_archive OUT.tar [TAG]");
        std::process::exit(2);
    };
    let tag = args
        .next()
        .unwrap_or_else(|| "bench/busybox:latest".to_owned());
    if !busybox::available() {
        eprintln!("needs a static /bin/busybox (Debian's busybox-static)");
        std::process::exit(1);
    }
    busybox::write_archive(std::path::Path::new(&out), &tag, &busybox::busybox_image())
}
