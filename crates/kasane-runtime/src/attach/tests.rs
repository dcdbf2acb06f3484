use super::*;
use std::os::fd::OwnedFd;

#[test]
fn frames_round_trip_and_a_clean_close_is_none() {
    let mut wire = Vec::new();
    write_frame(&mut wire, FRAME_STDOUT, b"hello\n").unwrap();
    write_frame(&mut wire, FRAME_EXIT, &7i32.to_be_bytes()).unwrap();
    write_frame(&mut wire, FRAME_STDIN, b"").unwrap();
    let mut r = &wire[..];
    assert_eq!(
        read_frame(&mut r).unwrap(),
        Some((FRAME_STDOUT, b"hello\n".to_vec()))
    );
    assert_eq!(
        read_frame(&mut r).unwrap(),
        Some((FRAME_EXIT, 7i32.to_be_bytes().to_vec()))
    );
    assert_eq!(read_frame(&mut r).unwrap(), Some((FRAME_STDIN, Vec::new())));
    assert_eq!(read_frame(&mut r).unwrap(), None);
}

#[test]
fn broken_frames_are_errors_not_panics() {
    // closed inside the header, inside the payload, and a length over the limit
    for wire in [
        vec![FRAME_STDOUT, 0, 0],
        vec![FRAME_STDOUT, 0, 0, 0, 4, b'a'],
        vec![FRAME_STDOUT, 0xff, 0xff, 0xff, 0xff],
    ] {
        let e = read_frame(&mut &wire[..]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{wire:?}: {e}");
    }
    let e = write_frame(&mut Vec::new(), FRAME_STDIN, &vec![0; MAX_FRAME + 1]).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn detach_keys_parse_like_docker() {
    assert_eq!(
        DetachKeys::parse(DEFAULT_DETACH_KEYS).unwrap(),
        DetachKeys::default()
    );
    assert_eq!(DetachKeys::default().keys, vec![0x10, 0x11]);
    assert_eq!(
        DetachKeys::parse("ctrl-a,x,ctrl-@,ctrl-\\,ctrl-_")
            .unwrap()
            .keys,
        vec![1, b'x', 0, 0x1c, 0x1f]
    );
    assert!(DetachKeys::parse("").unwrap().keys.is_empty());
    for bad in ["ctrl-", "ctrl-1", "ab", "ctrl-p,", "\u{e9}"] {
        let e = DetachKeys::parse(bad).unwrap_err();
        assert!(e.contains("invalid detach keys"), "{bad:?}: {e}");
    }
}

#[test]
fn detach_keys_hold_back_a_partial_sequence_and_release_a_broken_one() {
    let mut k = DetachKeys::parse(DEFAULT_DETACH_KEYS).unwrap();
    assert_eq!(k.feed(b"ls\r"), vec![KeyEvent::Input(b"ls\r".to_vec())]);
    // ctrl-p alone is held back, whatever comes next decides
    assert_eq!(k.feed(&[0x10]), vec![]);
    assert_eq!(k.feed(b"a"), vec![KeyEvent::Input(vec![0x10, b'a'])]);
    // ctrl-p ctrl-p ctrl-q: the first goes on, the pair detaches
    assert_eq!(
        k.feed(&[b'x', 0x10, 0x10, 0x11, b'y']),
        vec![KeyEvent::Input(vec![b'x', 0x10]), KeyEvent::Detach]
    );
    // a sequence split over two reads
    assert_eq!(k.feed(&[0x10]), vec![]);
    assert_eq!(k.feed(&[0x11]), vec![KeyEvent::Detach]);
    // one key
    let mut one = DetachKeys::parse("q").unwrap();
    assert_eq!(
        one.feed(b"abq"),
        vec![KeyEvent::Input(b"ab".to_vec()), KeyEvent::Detach]
    );
    // none: everything passes
    let mut none = DetachKeys::parse("").unwrap();
    assert_eq!(
        none.feed(&[0x10, 0x11]),
        vec![KeyEvent::Input(vec![0x10, 0x11])]
    );
}

#[test]
fn send_input_frames_stdin_and_stops_at_the_detach_keys() {
    let mut keys = DetachKeys::parse(DEFAULT_DETACH_KEYS).unwrap();
    let mut wire = Vec::new();
    let detached = send_input(&b"hi\n\x10\x11after"[..], &mut wire, &mut keys).unwrap();
    assert!(detached);
    let mut r = &wire[..];
    assert_eq!(
        read_frame(&mut r).unwrap(),
        Some((FRAME_STDIN, b"hi\n".to_vec()))
    );
    assert_eq!(read_frame(&mut r).unwrap(), None);

    let mut wire = Vec::new();
    assert!(!send_input(&b"all of it"[..], &mut wire, &mut keys).unwrap());
    assert_eq!(
        read_frame(&mut &wire[..]).unwrap(),
        Some((FRAME_STDIN, b"all of it".to_vec()))
    );
}

/// A hub serving on a socket: two clients both see the output, input reaches the pipe, and
/// the exit frame ends both sessions.
#[test]
fn a_hub_serves_output_to_every_client_and_passes_input_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = socket_path(dir.path(), "0123456789abcdef");
    assert!(path.ends_with("a-0123456789ab.sock"));
    let hub = AttachHub::new();
    let (pipe_r, pipe_w) = std::io::pipe().unwrap();
    hub.set_input(Some(AttachInput::Pipe(File::from(OwnedFd::from(pipe_w)))));
    let socket = crate::socket_file::SocketFile::bind(&path).unwrap();
    hub.serve(socket.listener().try_clone().unwrap());

    let mut a = UnixStream::connect(&path).unwrap();
    let mut b = UnixStream::connect(&path).unwrap();
    write_frame(&mut a, FRAME_STDIN, b"typed\n").unwrap();
    let mut got = [0u8; 6];
    let mut pipe_r = pipe_r;
    pipe_r.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"typed\n");
    // Both clients are listed once their input was read (a's was; wait for b's thread).
    let listed = |n| {
        (0..200).any(|_| {
            let ok = lock(&hub.shared.clients).len() == n;
            if !ok {
                std::thread::sleep(Duration::from_millis(10));
            }
            ok
        })
    };
    assert!(listed(2));

    hub.writer(Stream::Stdout).write_all(b"out").unwrap();
    hub.broadcast(Stream::Stderr, b"err");
    hub.finish(3);
    for c in [&mut a, &mut b] {
        assert_eq!(
            read_frame(c).unwrap(),
            Some((FRAME_STDOUT, b"out".to_vec()))
        );
        assert_eq!(
            read_frame(c).unwrap(),
            Some((FRAME_STDERR, b"err".to_vec()))
        );
        assert_eq!(
            read_frame(c).unwrap(),
            Some((FRAME_EXIT, 3i32.to_be_bytes().to_vec()))
        );
        assert_eq!(read_frame(c).unwrap(), None);
    }
    assert!(listed(0));
}

#[test]
fn a_gone_client_is_dropped_without_disturbing_the_others() {
    let hub = AttachHub::new();
    let (gone, gone_peer) = UnixStream::pair().unwrap();
    let (stays, mut stays_peer) = UnixStream::pair().unwrap();
    lock(&hub.shared.clients).extend([gone, stays]);
    drop(gone_peer);
    hub.broadcast(Stream::Stdout, b"x");
    assert_eq!(lock(&hub.shared.clients).len(), 1);
    assert_eq!(
        read_frame(&mut stays_peer).unwrap(),
        Some((FRAME_STDOUT, b"x".to_vec()))
    );
}

#[test]
fn resize_payloads_round_trip() {
    assert_eq!(parse_resize(&resize_payload(24, 80)), Some((24, 80)));
    assert_eq!(parse_resize(&[1, 2, 3]), None);
}
