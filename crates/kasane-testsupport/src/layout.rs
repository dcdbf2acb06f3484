//! OCI image layouts, as a directory or as an `oci-archive` tar.
//!
//! Owns: [`OciLayout`] and the convenience functions [`write_oci_layout`] and
//! [`write_oci_archive`].
//!
//! Layout:
//! ```text
//! <dir>/
//! ├── oci-layout            {"imageLayoutVersion": "1.0.0"}
//! ├── index.json            one descriptor per ref, annotated org.opencontainers.image.ref.name
//! └── blobs/sha256/<hex>    manifests, indexes, configs, layer blobs
//! ```
//! Blobs are stored under the digest the manifest *declares*, so an image made with
//! [`Image::with_wrong_blob_digest`] yields a blob whose name does not match its content —
//! and nothing else wrong.
//!
//! Spec: OCI image-spec `image-layout.md`, `annotations.md` (`org.opencontainers.image.ref.name`).

use std::io;
use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::archive::{FileTree, write_compressed};
use crate::consts;
use crate::image::{Image, to_json};
use crate::index::Index;
use crate::layer::Compression;

#[derive(Clone, Debug)]
enum Target {
    Image(Image),
    Index(Index),
}

/// An OCI layout under construction: refs pointing at images or indexes.
#[derive(Clone, Debug, Default)]
pub struct OciLayout {
    refs: Vec<(Option<String>, Target)>,
}

fn add_image_blobs(tree: &mut FileTree, image: &Image) {
    let blob = |d: &crate::Digest| format!("blobs/sha256/{}", d.hex());
    tree.insert_bytes(&blob(&image.config_digest), image.config.clone(), 0);
    tree.insert_bytes(&blob(&image.manifest_digest), image.manifest.clone(), 0);
    for l in &image.layers {
        tree.insert(&blob(&l.digest), l.blob.shared(), 0);
    }
}

impl OciLayout {
    /// An empty layout.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an image under `ref_name` (e.g. `latest`, `v1`).
    pub fn image(mut self, ref_name: &str, image: &Image) -> Self {
        self.refs
            .push((Some(ref_name.to_string()), Target::Image(image.clone())));
        self
    }

    /// Adds an image with no ref annotation.
    pub fn untagged_image(mut self, image: &Image) -> Self {
        self.refs.push((None, Target::Image(image.clone())));
        self
    }

    /// Adds a multi-platform index under `ref_name`.
    pub fn index(mut self, ref_name: &str, index: &Index) -> Self {
        self.refs
            .push((Some(ref_name.to_string()), Target::Index(index.clone())));
        self
    }

    /// The `index.json` bytes (compact, no trailing LF).
    pub fn index_json(&self) -> Vec<u8> {
        let manifests: Vec<Value> = self
            .refs
            .iter()
            .map(|(name, target)| {
                let (media_type, digest, size) = match target {
                    Target::Image(i) => {
                        (i.manifest_media_type, &i.manifest_digest, i.manifest.len())
                    }
                    Target::Index(i) => (i.media_type, &i.digest, i.manifest.len()),
                };
                let mut d = Map::new();
                d.insert("mediaType".into(), json!(media_type));
                d.insert("digest".into(), json!(digest.as_str()));
                d.insert("size".into(), json!(size));
                if let Some(n) = name {
                    d.insert(
                        "annotations".into(),
                        json!({ consts::ANNOTATION_REF_NAME: n }),
                    );
                }
                Value::Object(d)
            })
            .collect();
        to_json(
            &json!({"schemaVersion": 2, "mediaType": consts::OCI_INDEX, "manifests": manifests}),
        )
    }

    fn tree(&self) -> FileTree {
        let mut tree = FileTree::default();
        for (_, target) in &self.refs {
            match target {
                Target::Image(i) => add_image_blobs(&mut tree, i),
                Target::Index(idx) => {
                    tree.insert_bytes(
                        &format!("blobs/sha256/{}", idx.digest.hex()),
                        idx.manifest.clone(),
                        0,
                    );
                    for i in &idx.images {
                        add_image_blobs(&mut tree, i);
                    }
                }
            }
        }
        tree.insert_bytes("index.json", self.index_json(), 0);
        tree.insert(
            "oci-layout",
            Arc::new(consts::OCI_LAYOUT_FILE.as_bytes().to_vec()),
            0,
        );
        tree
    }

    /// Writes the layout into `dir` (created if missing; existing files are overwritten, other
    /// blobs left alone — so writing twice is idempotent).
    ///
    /// # Errors
    /// I/O errors creating directories or writing files.
    pub fn write(&self, dir: &Path) -> io::Result<()> {
        self.tree().write_dir(dir)
    }

    /// The layout as an `oci-archive` tar (entries at mtime 0), compressed as asked.
    pub fn to_archive_bytes(&self, c: Compression) -> Vec<u8> {
        crate::layer::compress(&self.tree().to_tar(0), c)
    }

    /// Writes the layout as an `oci-archive` tar file.
    ///
    /// # Errors
    /// The I/O error writing `path`.
    pub fn write_archive(&self, path: &Path, c: Compression) -> io::Result<()> {
        write_compressed(path, &self.tree().to_tar(0), c)
    }
}

/// Writes `images` as an OCI layout in `dir`, each under its ref name.
///
/// # Errors
/// I/O errors creating directories or writing files.
pub fn write_oci_layout(dir: &Path, images: &[(&str, &Image)]) -> io::Result<()> {
    images
        .iter()
        .fold(OciLayout::new(), |l, (r, i)| l.image(r, i))
        .write(dir)
}

/// Writes `images` as an uncompressed `oci-archive` tar at `path`.
///
/// # Errors
/// The I/O error writing `path`.
pub fn write_oci_archive(path: &Path, images: &[(&str, &Image)]) -> io::Result<()> {
    images
        .iter()
        .fold(OciLayout::new(), |l, (r, i)| l.image(r, i))
        .write_archive(path, Compression::None)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::fs;
    use std::io::Read;

    use super::*;
    use crate::check::{check_oci_archive, check_oci_layout};
    use crate::config::ManifestFormat;
    use crate::digest::Digest;
    use crate::image::ImageBuilder;
    use crate::index::IndexBuilder;
    use crate::layer::LayerBuilder;

    fn image(c: Compression) -> Image {
        let base = LayerBuilder::new(1)
            .file("etc/passwd", "root:x:0:0::/root:/bin/sh\n")
            .build();
        let top = LayerBuilder::many_small_files(30, 2)
            .whiteout("etc/passwd")
            .build();
        ImageBuilder::new()
            .layer(base, "base")
            .layer(top, "top")
            .cmd(&["sh"])
            .compression(c)
            .build()
    }

    fn json(bytes: &[u8]) -> serde_json::Value {
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn layout_directory_is_consistent() {
        let dir = tempfile::tempdir().unwrap();
        let (gz, zs) = (image(Compression::Gzip), image(Compression::Zstd));
        OciLayout::new()
            .image("gz", &gz)
            .image("zs", &zs)
            .untagged_image(&gz)
            .write(dir.path())
            .unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("oci-layout")).unwrap(),
            r#"{"imageLayoutVersion": "1.0.0"}"#
        );
        let index = json(&fs::read(dir.path().join("index.json")).unwrap());
        assert_eq!(index["mediaType"], consts::OCI_INDEX);
        let m = index["manifests"].as_array().unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[0]["annotations"][consts::ANNOTATION_REF_NAME], "gz");
        assert_eq!(m[0]["digest"], gz.manifest_digest.as_str());
        assert_eq!(m[1]["digest"], zs.manifest_digest.as_str());
        assert!(m[2].get("annotations").is_none());
        // Every blob is named by its content's digest.
        for e in fs::read_dir(dir.path().join("blobs/sha256")).unwrap() {
            let e = e.unwrap();
            let bytes = fs::read(e.path()).unwrap();
            assert_eq!(
                Digest::sha256(&bytes).hex(),
                e.file_name().to_str().unwrap()
            );
        }
        assert_eq!(check_oci_layout(dir.path()).unwrap(), Vec::<String>::new());
        // Writing again changes nothing.
        OciLayout::new()
            .image("gz", &gz)
            .image("zs", &zs)
            .untagged_image(&gz)
            .write(dir.path())
            .unwrap();
        assert_eq!(check_oci_layout(dir.path()).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn archive_is_a_sorted_tar_of_the_layout() {
        let dir = tempfile::tempdir().unwrap();
        let img = image(Compression::None);
        let path = dir.path().join("img.tar");
        write_oci_archive(&path, &[("v1", &img)]).unwrap();
        let bytes = fs::read(&path).unwrap();
        let mut ar = tar::Archive::new(bytes.as_slice());
        let mut names = Vec::new();
        let mut files = BTreeMap::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            assert_eq!(e.header().mtime().unwrap(), 0);
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            files.insert(name.clone(), data);
            names.push(name);
        }
        assert_eq!(names[..2], ["blobs/", "blobs/sha256/"]);
        assert_eq!(names[names.len() - 2..], ["index.json", "oci-layout"]);
        assert_eq!(names.len(), 2 + 4 + 2, "config, manifest, two layers");
        let layer0 = &files[&format!("blobs/sha256/{}", img.layers[0].digest.hex())];
        assert_eq!(
            Digest::sha256(layer0),
            img.diff_ids()[0],
            "uncompressed layers are their own DiffID"
        );
        assert_eq!(check_oci_archive(&path).unwrap(), Vec::<String>::new());
        assert_eq!(
            fs::read(&path).unwrap(),
            OciLayout::new()
                .image("v1", &img)
                .to_archive_bytes(Compression::None)
        );
    }

    #[test]
    fn index_targets_store_every_platform() {
        let dir = tempfile::tempdir().unwrap();
        let l = std::sync::Arc::new(LayerBuilder::new(1).file("f", "x").build());
        let amd = ImageBuilder::new()
            .layer(std::sync::Arc::clone(&l), "x")
            .build();
        let arm = ImageBuilder::new()
            .platform("linux", "arm64", Some("v8"))
            .layer(l, "x")
            .build();
        for format in [ManifestFormat::Oci, ManifestFormat::Docker] {
            let idx = IndexBuilder::new(format)
                .image(amd.clone())
                .image(arm.clone())
                .build();
            OciLayout::new()
                .index("multi", &idx)
                .write(dir.path())
                .unwrap();
            assert!(
                dir.path()
                    .join("blobs/sha256")
                    .join(arm.config_digest.hex())
                    .exists()
            );
            assert_eq!(check_oci_layout(dir.path()).unwrap(), Vec::<String>::new());
        }
    }

    #[test]
    fn each_corruption_is_exactly_one_problem() {
        let good = image(Compression::Gzip);
        for (name, bad, needle) in [
            ("diff id", good.with_wrong_diff_id(1), "uncompresses to"),
            ("size", good.with_wrong_blob_size(0), "size"),
            ("digest", good.with_wrong_blob_digest(1), "content digest"),
            ("truncated", good.truncate_gzip_layer(0), "decompressing"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            write_oci_layout(dir.path(), &[("bad", &bad)]).unwrap();
            let problems = check_oci_layout(dir.path()).unwrap();
            assert_eq!(problems.len(), 1, "{name}: {problems:?}");
            assert!(problems[0].contains(needle), "{name}: {problems:?}");
        }
    }
}
