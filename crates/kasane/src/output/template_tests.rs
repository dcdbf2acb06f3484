//! Go template behaviour against docker's inspect and row data (`docker-formats.md` §6).

use serde_json::{Value as Json, json};

use super::*;
use crate::output::{Data, ErrorKind, Hints};

/// `docker image inspect` of the §5.2 example, with labels, digests and 4 layers.
fn image() -> Json {
    json!({
        "Id": "sha256:4438967ac10eeb48b1b00513deea28000112daac7a6c02d3429b82ac9754c7b2",
        "RepoTags": ["demo:1", "demo:latest"],
        "RepoDigests": ["alpine@sha256:b77404dac736"],
        "Parent": "",
        "Comment": "buildkit.dockerfile.v0",
        "Created": "2026-11-22T13:07:22.359603895Z",
        "DockerVersion": "",
        "Author": "",
        "Config": {
            "Hostname": "",
            "User": "",
            "AttachStdin": false,
            "ExposedPorts": {"443/udp": {}, "80/tcp": {}},
            "Tty": false,
            "Env": ["PATH=/usr/bin", "A=b"],
            "Cmd": ["echo hello"],
            "ArgsEscaped": true,
            "Image": "",
            "Volumes": null,
            "WorkingDir": "/app",
            "Entrypoint": null,
            "OnBuild": null,
            "Labels": {"a": "b", "com.example.a": "<x&y>"}
        },
        "Architecture": "amd64",
        "Os": "linux",
        "Size": 1982307,
        "GraphDriver": {"Data": {"MergedDir": "/m", "UpperDir": "/u"}, "Name": "overlay2"},
        "RootFS": {"Type": "layers", "Layers": ["sha256:1", "sha256:2", "sha256:3", "sha256:4"]},
        "Metadata": {"LastTagTime": "2026-11-22T13:07:22.368370251Z"},
        "Nothing": null,
        "Ratio": 1000000.0,
        "Half": 0.5,
        "Empty": []
    })
}

/// `docker container inspect`, cut down.
fn container() -> Json {
    json!({
        "Id": "3f4e8a1b2c9d",
        "State": {
            "Status": "running", "Running": true, "Paused": false, "Restarting": false,
            "OOMKilled": false, "Dead": false, "Pid": 12612, "ExitCode": 0, "Error": "",
            "StartedAt": "2026-11-22T13:07:22.5Z", "FinishedAt": "0001-01-01T00:00:00Z"
        },
        "Mounts": [{"Type": "bind", "Source": "/src", "Destination": "/dst"}],
        "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2"}}}
    })
}

fn run_on(source: &str, data: &Data) -> Result<String, OutputError> {
    Template::parse(source)?.execute(data)
}

fn image_data() -> Data {
    Data::from_json(&image(), &Hints::image_inspect())
}

macro_rules! outputs {
    ($data:expr; $($name:ident: $src:expr => $want:expr;)*) => {
        $(#[test] fn $name() {
            let data = $data;
            match run_on($src, &data) {
                Ok(out) => assert_eq!(out, $want, "template {:?}", $src),
                Err(e) => panic!("template {:?}: {e}", $src),
            }
        })*
    };
}

// The exact cases of the brief and every row of docker-formats.md §6.
outputs! { image_data();
    size_is_an_integer: "{{.Size}}" => "1982307";
    len_of_layers: "{{len .RootFS.Layers}}" => "4";
    set_values_print_empty_struct: "{{.Config.ExposedPorts}}" => "map[443/udp:{} 80/tcp:{}]";
    string_slice: "{{.Config.Env}}" => "[PATH=/usr/bin A=b]";
    json_of_config: "{{json .Config}}"
        => r#"{"Hostname":"","User":"","AttachStdin":false,"ExposedPorts":{"443/udp":{},"80/tcp":{}},"Tty":false,"Env":["PATH=/usr/bin","A=b"],"Cmd":["echo hello"],"ArgsEscaped":true,"Image":"","Volumes":null,"WorkingDir":"/app","Entrypoint":null,"OnBuild":null,"Labels":{"a":"b","com.example.a":"<x&y>"}}"#;
    index_of_list: "{{index .RepoDigests 0}}" => "alpine@sha256:b77404dac736";
    index_of_labels: r#"{{index .Config.Labels "a"}}"# => "b";
    index_of_labels_dotted: r#"{{index .Config.Labels "com.example.a"}}"# => "<x&y>";
    index_of_missing_label_is_empty: r#"[{{index .Config.Labels "nope"}}]"# => "[]";
    range_over_list: "{{range .RepoTags}}{{.}} {{end}}" => "demo:1 demo:latest ";
    if_true: "{{if .Config.Labels}}yes{{else}}no{{end}}" => "yes";
    if_missing: "{{if .X}}yes{{else}}no{{end}}" => "no";
    missing_map_key: "{{.Config.Labels.nope}}" => "<no value>";
    scalars: "{{.Os}} {{.Size}} {{.Config.ArgsEscaped}} {{.Config.Tty}}" => "linux 1982307 true false";
    created_is_a_string: "{{.Created}}" => "2026-11-22T13:07:22.359603895Z";
    time_prints_go_string: "{{.Metadata.LastTagTime}}" => "2026-11-22 13:07:22.368370251 +0000 UTC";
    time_json_is_rfc3339: "{{json .Metadata.LastTagTime}}" => r#""2026-11-22T13:07:22.368370251Z""#;
    nil_slice: "{{.Config.Entrypoint}}" => "[]";
    absent_slice: "{{.Config.Shell}}" => "[]";
    empty_slice: "{{.Empty}}" => "[]";
    map_sorted: "{{.Config.Labels}}" => "map[a:b com.example.a:<x&y>]";
    nil_map: "{{.Config.Volumes}}" => "map[]";
    string_map: "{{.GraphDriver.Data}}" => "map[MergedDir:/m UpperDir:/u]";
    nil_pointer: "{{.Config.Healthcheck}}" => "<nil>";
    nil_pointer_is_false: "{{if .Config.Healthcheck}}y{{else}}n{{end}}" => "n";
    nil_pointer_with: "{{with .Config.Healthcheck}}y{{else}}n{{end}}" => "n";
    nil_interface: "{{.Nothing}}" => "<no value>";
    missing_field: "{{.Nope}}" => "<no value>";
    struct_prints_fields: "{{.RootFS}}" => "{layers [sha256:1 sha256:2 sha256:3 sha256:4]}";
    float_prints_like_go: "{{.Ratio}} {{.Half}}" => "1e+06 0.5";
    // Functions docker adds.
    json_nil_slice: "{{json .Config.Entrypoint}}" => "null";
    json_nil_map: "{{json .Config.Volumes}}" => "null";
    json_nil_pointer: "{{json .Config.Healthcheck}}" => "null";
    json_set: "{{json .Config.ExposedPorts}}" => r#"{"443/udp":{},"80/tcp":{}}"#;
    json_list: "{{json .RepoTags}}" => r#"["demo:1","demo:latest"]"#;
    json_int: "{{json .Size}}" => "1982307";
    json_no_html_escape: r#"{{json "<&>"}}"# => r#""<&>""#;
    json_missing: "{{json .Nope}}" => "null";
    json_empty_slice: "{{json .Empty}}" => "[]";
    join_list: r#"{{join .RepoTags ", "}}"# => "demo:1, demo:latest";
    join_nil: r#"[{{join .Config.Entrypoint ","}}]"# => "[]";
    join_map_values_sorted: r#"{{join .Config.Labels ","}}"# => "<x&y>,b";
    split_prints_list: r#"{{split "a,b,c" ","}}"# => "[a b c]";
    split_len: r#"{{len (split "a,b" ",")}}"# => "2";
    split_empty: r#"{{split "" ","}} {{len (split "" ",")}}"# => "[] 1";
    split_chars: r#"{{split "abc" ""}}"# => "[a b c]";
    split_then_index: r#"{{index (split .Os "n") 1}}"# => "ux";
    lower: r#"{{lower "ÀB"}}"# => "àb";
    upper: r#"{{upper "straße"}}"# => "STRAßE";
    upper_field: "{{upper .Os}}" => "LINUX";
    title: r#"{{title "hello world-foo_bar éa"}}"# => "Hello World-Foo_bar Éa";
    pad: r#"[{{pad "x" 2 1}}][{{pad "" 2 1}}]"# => "[  x ][]";
    truncate_long: r#"{{truncate "abcdef" 3}}"# => "abc";
    truncate_short: r#"{{truncate "ab" 3}}"# => "ab";
    truncate_exact: r#"{{truncate "abc" 3}}"# => "abc";
    truncate_utf8: r#"{{truncate "é" 1}}"# => "";
    // Go built-ins.
    printf: r#"{{printf "%s-%d" .Os .Size}}"# => "linux-1982307";
    println: "{{println .Os .Size}}" => "linux 1982307\n";
    print_spacing: r#"{{print .Os .Size 1 "x" 2}}"# => "linux1982307 1x2";
    print_go_values: "{{print .Config.Healthcheck .Ratio .Nothing}}" => "<nil> 1e+06 <nil>";
    root_is_a_struct_in_json_order: "{{json .RootFS}}" => r#"{"Type":"layers","Layers":["sha256:1","sha256:2","sha256:3","sha256:4"]}"#;
    eq: r#"{{eq .Os "linux"}} {{ne .Os "linux"}}"# => "true false";
    slice: "{{slice .RepoTags 1}}" => "[demo:latest]";
    range_map: "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}" => "a=b;com.example.a=<x&y>;";
    range_set: "{{range $p, $_ := .Config.ExposedPorts}}{{$p}} {{end}}" => "443/udp 80/tcp ";
    range_else: "{{range .Empty}}x{{else}}empty{{end}}" => "empty";
    range_nil_slice: "{{range .Config.Entrypoint}}x{{else}}none{{end}}" => "none";
    with_struct: "{{with .Config}}{{.WorkingDir}}{{end}}" => "/app";
    len_of_set: "{{.Config.ExposedPorts | len}}" => "2";
    trim_and_comment: "a {{- /* c */ -}} b" => "ab";
    variables: "{{$t := index .RepoTags 0}}{{$t}}|{{$.Os}}|{{range .RepoTags}}{{$.Size}}{{end}}" => "demo:1|linux|19823071982307";
    // Fields the JSON omitted (Healthcheck … Shell) print last, in hint order.
    struct_prints_omitted_fields_last: "{{.Config}}"
        => "{  false map[443/udp:{} 80/tcp:{}] false [PATH=/usr/bin A=b] [echo hello] true  map[] /app [] [] map[a:b com.example.a:<x&y>] <nil> false   <nil> []}";
    root_prints_as_map: "{{.GraphDriver}} {{.Metadata}}" => "{map[MergedDir:/m UpperDir:/u] overlay2} {2026-11-22 13:07:22.368370251 +0000 UTC}";
    defined_template: r#"{{define "t"}}<{{.}}>{{end}}{{range .RepoTags}}{{template "t" .}}{{end}}"# => "<demo:1><demo:latest>";
    block: r#"{{block "b" .Os}}[{{.}}]{{end}}"# => "[linux]";
    else_if: "{{if .X}}x{{else if .Os}}{{.Os}}{{end}}" => "linux";
    literal_braces_in_string: r#"{{"}}{{"}}"# => "}}{{";
    raw_string: "{{`a\\tb`}}" => "a\\tb";
    no_escape_processing: "a\\tb" => "a\\tb";
}

outputs! { Data::from_json(&container(), &Hints::container_inspect());
    struct_with_nil_pointer: "{{.State}}"
        => "{running true false false false false 12612 0  2026-11-22T13:07:22.5Z 0001-01-01T00:00:00Z <nil>}";
    nested_nil_pointer: "{{.State.Health}}" => "<nil>";
    with_nil_health: "{{with .State.Health}}{{.Status}}{{else}}none{{end}}" => "none";
    list_of_structs: "{{.Mounts}}" => "[{bind /src /dst}]";
    range_structs: "{{range .Mounts}}{{.Source}}:{{.Destination}}{{end}}" => "/src:/dst";
    map_of_structs: "{{.NetworkSettings.Networks}}" => "map[bridge:{172.17.0.2}]";
    nested_index: r#"{{(index .NetworkSettings.Networks "bridge").IPAddress}}"# => "172.17.0.2";
    absent_pointer_field: "{{.SizeRw}}" => "<nil>";
    json_struct_order: "{{json .State}}"
        => r#"{"Status":"running","Running":true,"Paused":false,"Restarting":false,"OOMKilled":false,"Dead":false,"Pid":12612,"ExitCode":0,"Error":"","StartedAt":"2026-11-22T13:07:22.5Z","FinishedAt":"0001-01-01T00:00:00Z"}"#;
}

outputs! { Data::row(&json!({"Repository": "demo", "Tag": "1", "Size": "1.98MB", "Digest": "<none>"}));
    row_fields: "{{.Repository}}:{{.Tag}} - {{.Size}}" => "demo:1 - 1.98MB";
    row_json_is_marshalled: "{{json .}}" => r#"{"Digest":"\u003cnone\u003e","Repository":"demo","Size":"1.98MB","Tag":"1"}"#;
    row_json_field_is_not: "{{json .Digest}}" => r#""<none>""#;
}

outputs! { Data::from_json(&json!({"Labels": {}, "Ports": {"80/tcp": {}}, "Obj": {"A": {}}}), &Hints::new());
    default_empty_object_is_map: "{{.Labels}} {{if .Labels}}t{{else}}f{{end}}" => "map[] f";
    default_set_values: "{{.Ports}} {{json .Ports}}" => r#"map[80/tcp:{}] {"80/tcp":{}}"#;
    default_field_like_key_is_map: "{{.Obj}}" => "map[A:map[]]";
}

/// (template, line, message) for templates Go refuses to parse.
#[test]
#[rustfmt::skip]
fn parse_errors() {
    let cases = [
        ("{{.X", 1, "unclosed action"),
        ("a\n{{.X", 2, "unclosed action"),
        ("{{if .X}}", 1, "unexpected EOF"),
        ("{{if .X}}\nx\n", 3, "unexpected EOF"),
        ("{{define \"a\"}}x", 1, "unexpected EOF"),
        ("{{end}}", 1, "unexpected {{end}}"),
        ("x\n{{- end -}}", 2, "unexpected {{end}}"),
        ("{{else}}", 1, "unexpected {{else}}"),
        ("{{range .X}}{{end}}{{end}}", 1, "unexpected {{end}}"),
        ("{{foo .X}}", 1, "function \"foo\" not defined"),
        ("{{.X | foo}}", 1, "function \"foo\" not defined"),
        ("{{if (foo)}}{{end}}", 1, "function \"foo\" not defined"),
        ("{{$x}}", 1, "undefined variable \"$x\""),
        ("{{$x = 1}}", 1, "undefined variable \"$x\""),
        ("{{if .X}}{{$x := 1}}{{end}}{{$x}}", 1, "undefined variable \"$x\""),
        ("{{define \"a\"}}{{$y}}{{end}}", 1, "undefined variable \"$y\""),
        ("{{break}}", 1, "{{break}} outside {{range}}"),
        ("{{range .X}}{{else}}{{continue}}{{end}}", 1, "{{continue}} outside {{range}}"),
        ("{{.X \"a}}", 1, "unterminated quoted string"),
    ];
    for (source, line, message) in cases {
        match Template::parse(source) {
            Err(OutputError::Parse {
                line: got_line,
                message: got,
                template,
            }) => {
                assert_eq!((got_line, got.as_str()), (line, message), "{source:?}");
                assert_eq!(template, source);
            }
            other => panic!("{source:?}: expected a parse error, got {other:?}"),
        }
    }
}

#[test]
fn parse_error_display() {
    let err = Template::parse("{{.X").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TemplateParse);
    assert_eq!(
        err.to_string(),
        "template parsing error: template: :1: unclosed action"
    );
}

#[test]
#[rustfmt::skip]
fn valid_templates_parse() {
    let cases = [
        "",
        "plain",
        "{{if .X}}{{else if .Y}}{{else}}{{end}}",
        "{{range $i, $v := .X}}{{$i}}{{$v}}{{break}}{{end}}",
        "{{with $x := .X}}{{$x}}{{else}}{{$x}}{{end}}",
        "{{$x := 1}}{{$x = 2}}{{$x}}",
        "{{/* {{end}} */}}",
        "{{\"{{end}}\"}}",
        "{{`{{if}}`}}",
        "{{'}'}}",
        "{{- .X -}}",
        "{{-3}}",
        "{{template \"a\" .}}{{define \"a\"}}{{.}}{{end}}",
        "{{json .}}{{join .X \",\"}}{{split .X \",\"}}{{lower .X}}{{upper .X}}{{title .X}}{{pad .X 1 1}}{{truncate .X 1}}",
        "{{and 1 2}}{{or 1 2}}{{not 1}}{{len .X}}{{index .X 1}}{{slice .X}}{{html .X}}{{js .X}}{{urlquery .X}}{{print 1}}{{printf \"%d\" 1}}{{println}}{{call .F}}",
    ];
    for source in cases {
        if let Err(e) = Template::parse(source) {
            panic!("{source:?}: {e}");
        }
    }
}

/// (template, message) for templates that parse but fail on the image.
#[test]
#[rustfmt::skip]
fn execution_errors() {
    let cases = [
        ("{{index .RepoDigests 5}}", "error calling index: index out of range: 5"),
        ("{{index .Nothing 0}}", "error calling index: index of untyped nil"),
        ("{{upper .Size}}", "wrong type for value; expected string; got int"),
        ("{{join .Size \",\"}}", "wrong type for value; expected []string; got int"),
        ("{{pad \"x\" -1 0}}", "strings: negative Repeat count"),
        ("{{.Os.Nope}}", "can't evaluate field Nope in type string"),
        ("{{split \"a\"}}", "wrong number of args for split: want 2 got 1"),
    ];
    let data = image_data();
    for (source, message) in cases {
        match run_on(source, &data) {
            Err(OutputError::Execute {
                message: got,
                template,
            }) => {
                assert_eq!(got, message, "{source:?}");
                assert_eq!(template, source);
            }
            other => panic!("{source:?}: expected an execution error, got {other:?}"),
        }
    }
}

#[test]
fn shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Template>();
    assert_send_sync::<Data>();
}

#[test]
fn strict_execution_rejects_missing_keys() {
    let row = Data::row(&json!({"ID": "abc"}));
    let t = Template::parse("{{.ID}}{{.Nope}}").unwrap();
    assert_eq!(t.execute(&row).unwrap(), "abc<no value>");
    let err = t.execute_strict(&row).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TemplateExecute);
    assert_eq!(
        err.to_string(),
        "template parsing error: template: executing \"\": map has no entry for key \"Nope\""
    );
}

#[test]
#[rustfmt::skip]
fn header_functions_are_identities() {
    let header = Data::from_json(
        &json!({"Tag": "TAG", "Size": "SIZE", "ID": "IMAGE ID"}),
        &Hints::new(),
    );
    let cases = [
        ("{{upper .Tag}}\t{{lower .Size}}\t{{title .ID}}", "TAG\tSIZE\tIMAGE ID"),
        ("{{json .Tag}} {{truncate .ID 3}}", "TAG IMAGE ID"),
        ("{{split .Tag \",\"}} {{join .Tag \",\"}}", "TAG TAG"),
        ("{{pad .Size 1 1}}", " SIZE "),
        ("{{.Tag}}:{{.Nope}}", "TAG:<no value>"),
        // An error keeps what was written before it.
        ("{{.Tag}}-{{json .}}-{{.Size}}", "TAG-"),
        ("{{json .}}", ""),
    ];
    for (source, want) in cases {
        let t = Template::parse(source).unwrap();
        assert_eq!(t.execute_header(&header), want, "{source:?}");
    }
}
