//! `immortal`'s command line: Go-style flags, usage, version, `-cc`, and
//! errors reported on stderr with exit status 1 before anything starts.

use crate::common::*;

#[test]
fn version_and_help_exit_zero() {
    let sb = Sandbox::new();
    let out = sb.run(&["-v"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), env!("CARGO_PKG_VERSION"));
    for h in ["-h", "--help"] {
        let out = sb.run(&[h]);
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.starts_with("Usage: immortal"), "{text}");
        for flag in ["-ctl", "-logger", "-cc", "-name", "-P", "-p"] {
            assert!(text.contains(flag), "usage lacks {flag}: {text}");
        }
    }
}

#[test]
fn bad_flags_are_errors_with_usage() {
    let sb = Sandbox::new();
    for args in [
        &["-bogus", "sleep", "1"][..],
        &["-r", "many", "sleep", "1"],
        &["-w", "-3", "x"],
        &["-ctl"],
    ] {
        let out = sb.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr_of(&out);
        assert!(
            err.starts_with("immortal: ") && err.contains("Usage: immortal"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn missing_command_is_an_error() {
    let sb = Sandbox::new();
    let out = sb.run(&["-n"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("missing command"), "{}", stderr_of(&out));
}

#[test]
fn option_forms_and_stop_at_command() {
    // `-ctl=DIR`, `--name NAME`, and `-c` after the command belongs to `sh`.
    let sb = Sandbox::new();
    let ctl = format!("-ctl={}", sb.path("sv").display());
    let mut sup = Supervisor::spawn(
        sb.command(&[
            "-n",
            &ctl,
            "--name",
            "web",
            "sh",
            "-c",
            "echo $0 > args; exec sleep 100",
            "zero",
        ]),
        sb.path("sv"),
        sb.path("stderr"),
    );
    sup.wait_running(None);
    wait_for(5.0, "args written", || sb.read("args") == "zero\n");
    assert_eq!(sup.status()["name"], "web");
    assert_eq!(sup.status()["cmd"], "sh -c echo $0 > args; exec sleep 100 zero");
}

#[test]
fn check_config_prints_effective_yaml() {
    let sb = Sandbox::new();
    let yml = sb.write("web.yml", "cmd: [sh, -c, \"sleep 100\"]\nwait: 1\n");
    let out = sb.run(&["-c", yml.to_str().unwrap(), "-cc"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        // The argv the service will get.
        "cmd:\n- sh\n- -c\n- sleep 100\n",
        "wait: 1",
        "retries: -1",
        "signal: TERM",
        "group: true",
        "timeout: 10",
        // Every default, the blocks not written in the file too.
        "restart:\n  policy: always\n  success:\n  - 0\n  delay: 1.0\n  max_delay: 1.0\n  factor: 2.0\n  reset_after: 60.0\n  limit: null",
        "\nready: null  # ready as soon as it runs",
        "\nsocket:\n  mode: '0660'\n  group: null",
        "\nessential: false\n",
    ] {
        assert!(text.contains(want), "missing {want}: {text}");
    }
    // What it prints is a configuration that means the same.
    let again = sb.write("again.yml", &text);
    let out = sb.run(&["-c", again.to_str().unwrap(), "-cc"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), text, "{}", stderr_of(&out));
    assert!(
        !sb.path("sdir").exists() && !sb.path("home/.immortal").exists(),
        "-cc must not start anything"
    );
}

#[test]
fn config_errors_name_file_and_line() {
    let sb = Sandbox::new();
    let cases = [
        ("cmd: x\nwait: 1\ncmdd: y\n", "bad.yml:3: unknown field `cmdd`"),
        ("wait: 1\n", "bad.yml: missing key 'cmd'"),
        ("cmd: x\nretries: -5\n", "bad.yml:2: retries"),
        ("cmd: x\nwait: soon\n", "bad.yml:2:"),
        (
            "cmd: x\ncwd: /nonexistent-immortal\n",
            "bad.yml: cwd '/nonexistent-immortal'",
        ),
        (
            "cmd: x\nuser: no-such-user-immortal\n",
            "bad.yml: user 'no-such-user-immortal' does not exist",
        ),
        ("cmd: x\nstop: {signal: NOPE}\n", "bad.yml:2: unknown signal 'NOPE'"),
    ];
    for (text, want) in cases {
        let yml = sb.write("bad.yml", text);
        for extra in [&["-cc"][..], &["-n"]] {
            let mut args = vec!["-c", yml.to_str().unwrap()];
            args.extend_from_slice(extra);
            let out = sb.run(&args);
            assert_eq!(out.status.code(), Some(1), "{text:?} {extra:?}");
            let err = stderr_of(&out);
            assert!(err.contains(want), "{text:?}: expected {want:?} in {err}");
        }
    }
    let out = sb.run(&["-c", sb.path("missing.yml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("missing.yml"), "{}", stderr_of(&out));
}

#[test]
fn flag_errors_before_start() {
    let sb = Sandbox::new();
    let cases: [(&[&str], &str); 3] = [
        (&["-d", "/nonexistent-immortal", "true"], "-d '/nonexistent-immortal'"),
        (&["-e", "/nonexistent-immortal", "true"], "-e '/nonexistent-immortal'"),
        (
            &["-u", "no-such-user-immortal", "true"],
            "user 'no-such-user-immortal' does not exist",
        ),
    ];
    for (args, want) in cases {
        // Without -n too: the error must come back before daemonizing.
        let out = sb.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr_of(&out).contains(want), "{args:?}: {}", stderr_of(&out));
    }
}

#[test]
fn every_binary_takes_version_and_its_help_lists_the_environment_it_reads() {
    let bin = |name: &str| std::path::Path::new(IMMORTAL).with_file_name(name);
    for name in ["immortal", "immortalctl", "immortallog", "immortalsvc"] {
        for flag in ["-v", "--version"] {
            let out = std::process::Command::new(bin(name)).arg(flag).output().unwrap();
            assert_eq!(out.status.code(), Some(0), "{name} {flag}");
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).trim(),
                env!("CARGO_PKG_VERSION"),
                "{name} {flag}"
            );
        }
    }
    // What each binary's code reads (src/layout.rs, src/notice.rs,
    // src/supervise, src/cmd/): its -h must say so.
    let reads: &[(&str, &[&str])] = &[
        (
            "immortal",
            &[
                "IMMORTAL_SDIR",
                "IMMORTAL_EXIT",
                "IMMORTAL_SYSLOG",
                "IMMORTAL_THROTTLE_MS",
                "XDG_RUNTIME_DIR",
                "HOME",
                "SHELL",
            ],
        ),
        ("immortalctl", &["IMMORTAL_SDIR", "XDG_RUNTIME_DIR", "HOME", "NO_COLOR"]),
        ("immortalsvc", &["IMMORTAL_SDIR", "XDG_RUNTIME_DIR", "HOME"]),
    ];
    for (name, vars) in reads {
        let out = std::process::Command::new(bin(name)).arg("-h").output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{name} -h");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("Environment:"), "{name}: {help}");
        for var in *vars {
            assert!(help.contains(var), "{name} -h does not mention {var}:\n{help}");
        }
    }
}
