//! Fuzzes archive reading: arbitrary bytes as a `docker load` input are indexed and opened as
//! a docker-archive or oci-archive without panicking, whatever they claim.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut file) = tempfile::tempfile() else { return };
    if file.write_all(data).is_err() {
        return;
    }
    if let Ok(archive) = kasane_store::archive::open_archive_file(file) {
        for image in archive.images() {
            let _ = kasane_store::read_blob(archive.as_provider(), &image.manifest);
        }
    }
});
