//! The CLI as pasted into a shell: where it takes the stack from when no
//! flag is given, and what it says when nothing tells it.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Output};
use std::sync::mpsc;

const BIN: &str = env!("CARGO_BIN_EXE_livehook");

/// The CLI in a shell with no AWS or livehook settings at all (and no
/// instance metadata service, so a missing credential fails at once).
fn bare(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir().join("livehook-no-home"))
        .env("AWS_EC2_METADATA_DISABLED", "true");
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("running livehook")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn without_credentials_or_endpoint_the_error_names_the_local_settings() {
    for args in [
        &["events", "list", "--stack", "livehook"][..],
        &[
            "events",
            "list",
            "--stack",
            "livehook",
            "--region",
            "eu-west-1",
        ],
    ] {
        let o = run(&mut bare(args));
        let stderr = text(&o.stderr);
        assert!(!o.status.success(), "{args:?}: {}", text(&o.stdout));
        assert!(
            stderr.contains("source .livehook/env") && stderr.contains("--endpoint-url"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("Attempted"), "{args:?}: {stderr}");
    }
}

#[test]
fn send_takes_the_functions_from_livehook_url_and_explains_a_timeout() {
    // A function that takes the request and never answers (one still compiling).
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding");
    let port = listener.local_addr().expect("address").port();
    let (seen, request_line) = mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            let mut line = String::new();
            let _ = BufReader::new(&stream).read_line(&mut line);
            let _ = seen.send(line);
            held.push(stream);
        }
    });

    let o = run(bare(&["send", "lal", "on_pub_start", "--timeout", "1"])
        .env(
            "LIVEHOOK_URL",
            format!("http://127.0.0.1:{port}/lambda-url"),
        )
        .env("LIVEHOOK_TOKEN", "t0ken-from-env"));
    let stderr = text(&o.stderr);
    assert!(!o.status.success(), "{}", text(&o.stdout));
    let line = request_line
        .recv()
        .expect("the request reached the listener");
    assert!(
        line.starts_with("POST /lambda-url/lal/on_pub_start?token=t0ken-from-env "),
        "{line}"
    );
    assert!(
        stderr.contains("may still have been accepted") && stderr.contains("events show"),
        "{stderr}"
    );

    // Without LIVEHOOK_URL or --url, the error names both.
    let o = run(&mut bare(&["send", "lal", "on_pub_start"]));
    let stderr = text(&o.stderr);
    assert!(!o.status.success());
    assert!(
        stderr.contains("--url") && stderr.contains("LIVEHOOK_URL"),
        "{stderr}"
    );
}

#[test]
fn check_takes_the_functions_from_livehook_url() {
    // An endpoint nothing listens on: check gets as far as its first AWS call.
    let closed = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let check = |url: Option<&str>| {
        let mut command = bare(&["check", "--timeout", "1"]);
        command
            .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{closed}"))
            .env("LIVEHOOK_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:t");
        if let Some(url) = url {
            command.env("LIVEHOOK_URL", url);
        }
        run(&mut command)
    };
    let o = check(None);
    let stderr = text(&o.stderr);
    assert!(!o.status.success());
    assert!(stderr.contains("LIVEHOOK_URL"), "{stderr}");
    let o = check(Some("http://127.0.0.1:9/lambda-url"));
    let stderr = text(&o.stderr);
    assert!(!o.status.success());
    assert!(!stderr.contains("where are the functions"), "{stderr}");
}

/// `livehook … | head`: a reader that has gone ends the command quietly
/// (as SIGPIPE ends other tools), with no panic about a broken pipe.
#[cfg(unix)]
#[test]
fn a_closed_pipe_ends_the_command_quietly() {
    use std::os::unix::process::ExitStatusExt as _;
    let (reader, writer) = std::io::pipe().expect("a pipe");
    // The reader is gone before the command writes a byte.
    drop(reader);
    let output = bare(&["providers"])
        .stdout(writer)
        .output()
        .expect("running livehook");
    let stderr = text(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.signal(), Some(13), "{:?}", output.status);
}
