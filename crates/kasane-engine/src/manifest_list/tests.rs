//! Unit tests of the parent module.
#![allow(clippy::unwrap_used)]

use super::*;

fn r(s: &str) -> Reference {
    s.parse::<Reference>().unwrap().with_default_tag()
}

fn entry(image: &str, mt: &str, arch: &str) -> ListEntry {
    let raw = format!(
        r#"{{"schemaVersion":2,"mediaType":"{mt}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{}","size":2}},"layers":[]}}"#,
        "0".repeat(64)
    );
    let mut d = Descriptor::new(mt, Digest::sha256_of(raw.as_bytes()), raw.len() as u64);
    d.platform = Some(Platform::new("linux", arch));
    ListEntry {
        reference: r(image),
        descriptor: d,
        raw: Some(raw.into_bytes()),
    }
}

#[test]
fn create_get_annotate_remove() {
    let dir = tempfile::tempdir().unwrap();
    let lists = ManifestLists::new(dir.path());
    let list = r("127.0.0.1:5000/x/list:1");
    let a = entry(
        "127.0.0.1:5000/x/img:arm64",
        media_type::OCI_MANIFEST,
        "arm64",
    );
    let b = entry(
        "127.0.0.1:5000/x/img:amd64",
        media_type::OCI_MANIFEST,
        "amd64",
    );
    assert!(!lists.exists(&list).unwrap());
    lists.create(&list, &[a.clone(), b.clone()], false).unwrap();
    assert!(lists.exists(&list).unwrap());
    assert!(
        dir.path()
            .join("manifests/127.0.0.1-5000_x_list-1/127.0.0.1-5000_x_img-amd64")
            .is_file()
    );
    // File-name order, like docker.
    assert_eq!(lists.get(&list).unwrap(), vec![b.clone(), a.clone()]);

    let e = lists
        .create(&list, std::slice::from_ref(&a), false)
        .unwrap_err();
    assert_eq!(e.to_string(), AMEND_REFUSED);
    lists.create(&list, std::slice::from_ref(&a), true).unwrap();
    assert_eq!(lists.get(&list).unwrap().len(), 2);

    let got = lists
        .annotate(
            &list,
            &a.reference,
            &PlatformUpdate {
                variant: Some("v8".into()),
                os_features: vec!["f1".into(), "f1".into()],
                ..PlatformUpdate::default()
            },
        )
        .unwrap();
    let p = got.platform();
    assert_eq!(
        (p.os.as_str(), p.architecture.as_str(), p.variant.as_deref()),
        ("linux", "arm64", Some("v8"))
    );
    assert_eq!(p.os_features, Some(vec!["f1".to_owned()]));
    assert_eq!(lists.get_entry(&list, &a.reference).unwrap(), got);

    let bad = lists.annotate(
        &list,
        &a.reference,
        &PlatformUpdate {
            os: Some("plan9".into()),
            ..PlatformUpdate::default()
        },
    );
    assert!(
        bad.unwrap_err()
            .to_string()
            .contains("unsupported os/arch combination: plan9/arm64")
    );
    let missing = lists
        .annotate(
            &list,
            &r("127.0.0.1:5000/x/other"),
            &PlatformUpdate::default(),
        )
        .unwrap_err();
    assert_eq!(missing.kind(), crate::ErrorKind::NotFound);

    lists.remove(&list).unwrap();
    assert!(!lists.exists(&list).unwrap());
    let e = lists.get(&list).unwrap_err();
    assert_eq!(e.to_string(), "No such manifest: 127.0.0.1:5000/x/list:1");
    assert_eq!(
        lists.remove(&list).unwrap_err().kind(),
        crate::ErrorKind::NotFound
    );
}

#[test]
fn colliding_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let lists = ManifestLists::new(dir.path());
    // Both escape to example.com_a_b-1.
    let one = r("example.com/a/b:1");
    let two = r("example.com/a_b:1");
    assert_eq!(
        file_safe_name(&one.to_string()),
        file_safe_name(&two.to_string())
    );
    lists
        .create(
            &one,
            &[entry(
                "example.com/a/img:1",
                media_type::OCI_MANIFEST,
                "amd64",
            )],
            false,
        )
        .unwrap();
    assert!(!lists.exists(&two).unwrap());
    assert!(lists.create(&two, &[], true).is_err());
    assert_eq!(
        lists.get(&two).unwrap_err().kind(),
        crate::ErrorKind::NotFound
    );

    let e1 = entry("example.com/x/y:1", media_type::OCI_MANIFEST, "amd64");
    let e2 = entry("example.com/x_y:1", media_type::OCI_MANIFEST, "arm64");
    lists.save(&one, &e1).unwrap();
    assert!(lists.save(&one, &e2).is_err());
    assert!(lists.get_entry(&one, &e2.reference).is_err());
}

#[test]
fn entry_file_is_docker_shaped() {
    let e = entry(
        "127.0.0.1:5000/x/img:amd64",
        media_type::OCI_MANIFEST,
        "amd64",
    );
    let v: serde_json::Value = serde_json::to_value(&e).unwrap();
    assert_eq!(v["Ref"], "127.0.0.1:5000/x/img:amd64");
    assert_eq!(v["Descriptor"]["platform"]["architecture"], "amd64");
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(v["Raw"].as_str().unwrap())
        .unwrap();
    assert_eq!(Some(raw), e.raw);
    let back: ListEntry = serde_json::from_value(v).unwrap();
    assert_eq!(back, e);
    assert_eq!(
        e.blobs()
            .unwrap()
            .iter()
            .map(|d| d.size)
            .collect::<Vec<_>>(),
        vec![2]
    );
}

#[test]
fn index_documents_are_docker_byte_for_byte() {
    let list = r("127.0.0.1:5000/x/list:1");
    let mut a = entry(
        "127.0.0.1:5000/x/img:amd64",
        media_type::DOCKER_MANIFEST,
        "amd64",
    );
    a.descriptor.digest = "sha256:1072e499f3f655a032e88542330cf75b02e7bdf673278f701d7ba61629ee3ebe"
        .parse()
        .unwrap();
    a.descriptor.size = 528;
    let (mt, bytes) = index_document(&list, &[a.clone(), a.clone()], true).unwrap();
    assert_eq!(mt, media_type::DOCKER_MANIFEST_LIST);
    // docker/cli testdata/inspect-manifest-list.golden, without print's newline.
    let want = r#"{
   "schemaVersion": 2,
   "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
   "manifests": [
      {
         "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
         "size": 528,
         "digest": "sha256:1072e499f3f655a032e88542330cf75b02e7bdf673278f701d7ba61629ee3ebe",
         "platform": {
            "architecture": "amd64",
            "os": "linux"
         }
      },
      {
         "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
         "size": 528,
         "digest": "sha256:1072e499f3f655a032e88542330cf75b02e7bdf673278f701d7ba61629ee3ebe",
         "platform": {
            "architecture": "amd64",
            "os": "linux"
         }
      }
   ]
}"#;
    assert_eq!(String::from_utf8(bytes).unwrap(), want);

    let mut b = entry("127.0.0.1:5000/x/img:arm", media_type::OCI_MANIFEST, "arm");
    b.descriptor.platform = Some(Platform {
        architecture: "arm".into(),
        os: "linux".into(),
        os_version: Some("1".into()),
        os_features: Some(vec!["<f>&".into()]),
        variant: Some("v7".into()),
    });
    let (mt, bytes) = index_document(&list, &[b.clone(), a.clone()], true).unwrap();
    assert_eq!(mt, media_type::OCI_INDEX);
    let text = String::from_utf8(bytes).unwrap();
    assert!(
            text.contains(
                "\"platform\": {\n            \"architecture\": \"arm\",\n            \"os\": \"linux\",\n            \"os.version\": \"1\",\n            \"os.features\": [\n               \"\\u003cf\\u003e\\u0026\"\n            ],\n            \"variant\": \"v7\"\n         }"
            ),
            "{text}"
        );

    let mut none = a.clone();
    none.descriptor.platform = Some(Platform::default());
    let e = index_document(&list, &[none.clone()], true).unwrap_err();
    assert!(
        e.to_string().contains("must have an OS and Architecture"),
        "{e}"
    );
    assert!(index_document(&list, &[none], false).is_ok());
    let other = entry("example.com/x/img:1", media_type::OCI_MANIFEST, "amd64");
    let e = index_document(&list, &[other], false).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot use source images from a different registry than the target image: example.com != 127.0.0.1:5000"
    );
}

#[test]
fn platform_comes_from_the_config() {
    let p = platform_of_config(
            br#"{"architecture":"arm64","os":"linux","variant":"v8","os.features":[],"rootfs":{"type":"layers","diff_ids":[]}}"#,
        )
        .unwrap();
    assert_eq!(
        p,
        Platform {
            architecture: "arm64".into(),
            os: "linux".into(),
            os_version: None,
            os_features: None,
            variant: Some("v8".into()),
        }
    );
    assert!(platform_of_config(b"[]").is_err());
    assert!(platform_of_config(br#"{"architecture":1}"#).is_err());
}
