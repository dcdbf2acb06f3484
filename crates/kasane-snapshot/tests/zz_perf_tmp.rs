#![allow(clippy::unwrap_used)]
//! Temporary timing harness (not committed).
#[test]
#[ignore]
fn perf_apply() {
    let tar = std::env::var("KPERF_TAR").unwrap();
    let dir = std::path::PathBuf::from(std::env::var("KPERF_DIR").unwrap());
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let f = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&tar).unwrap());
    let t = std::time::Instant::now();
    let stats = if tar.ends_with(".gz") {
        kasane_snapshot::archive::apply(&dir, flate2::bufread::MultiGzDecoder::new(f), &Default::default()).unwrap()
    } else {
        kasane_snapshot::archive::apply(&dir, f, &Default::default()).unwrap()
    };
    eprintln!("apply: {:?} {:?}", t.elapsed(), stats);
}
