//! `env_file:` at run time: read at every start (a restart picks up a
//! changed file), before `env:` (which wins); a missing `-PATH` is fine; a
//! missing or broken file is a failed start whose reason, in the status
//! and the history, names the file (and the line), and the service starts
//! once the file is right.

use crate::common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const SHOW: &str = "cmd: [sh, -c, 'echo \"$SECRET $WHO $EXTRA\" > seen.new && mv seen.new seen; exec sleep 100']\n";

#[test]
fn a_restart_reads_the_file_again_and_env_wins() {
    let sb = Sandbox::new();
    sb.write("app.env", "# the secret\nexport SECRET='one'\nWHO=file\n");
    sb.write("extra.env", "EXTRA=\"x y\"\n");
    sb.write(
        "run.yml",
        &format!("{SHOW}env_file: [app.env, -absent.env, extra.env]\nenv:\n  WHO: yml\n"),
    );
    let mut sup = sb.supervise(&["-c", "run.yml"]);
    let pid = sup.wait_running(None);
    sup.wait_for(10.0, "the first start's environment", || {
        sb.read("seen") == "one yml x y\n"
    });
    // A rotated secret: the next start (not a reload) reads it.
    sb.write("app.env", "SECRET=two\nWHO=file\n");
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
    sup.wait_running(Some(pid));
    sup.wait_for(10.0, "the restart's environment", || sb.read("seen") == "two yml x y\n");
}

#[test]
fn a_missing_file_is_a_failed_start_named_in_the_status_until_it_appears() {
    let sb = Sandbox::new();
    sb.write("run.yml", &format!("{SHOW}env_file: app.env\n"));
    let mut sup = sb.supervise(&["-c", "run.yml"]);
    let want = format!(
        "env_file {}: unable to read: No such file or directory",
        sb.path("app.env").display()
    );
    let mut st = serde_json::Value::Null;
    sup.wait_for(10.0, "the reason names the file", || {
        st = sup.status();
        st["reason"].as_str().is_some_and(|r| r.starts_with(&want))
    });
    assert_eq!(st["pid"], 0, "{st}");
    let history = sup.history();
    assert_eq!(history[0]["reason"], want.as_str(), "{history:?}");
    assert!(sup.log().contains(&want), "{}", sup.log());
    // Broken: the reason names the line.
    sb.write("app.env", "SECRET=1\nWHO\n");
    let want = format!("env_file {}:2: missing '='", sb.path("app.env").display());
    sup.wait_for(10.0, "the reason names the line", || {
        sup.status()["reason"].as_str().is_some_and(|r| r.starts_with(&want))
    });
    // Right: the next attempt starts it.
    sb.write("app.env", "SECRET=fixed\nWHO=me\n");
    sup.wait_running(None);
    sup.wait_for(10.0, "the file's environment", || sb.read("seen") == "fixed me \n");
}

/// A readiness or health command sees the service's environment, `env_file:`
/// included (it saw `env:` alone): a check that needs a token from the file
/// passes, and one whose file breaks fails, naming the file.
#[test]
fn probes_see_the_env_file_too() {
    let sb = Sandbox::new();
    sb.write("app.env", "TOKEN=secret\n");
    sb.write(
        "run.yml",
        "cmd: sleep 1000\nenv_file: app.env\nenv:\n  WHO: yml\nready:\n  cmd: test \"$TOKEN $WHO\" = \"secret yml\"\n  interval: 0.1\nhealth:\n  cmd: 'test \"$TOKEN\" = secret || { echo token is \"$TOKEN\"; exit 1; }'\n  interval: 0.2\n  failures: 100\n",
    );
    let mut sup = sb.supervise(&["-c", "run.yml"]);
    let pid = sup.wait_running(None);
    sup.pids.push(pid as i32);
    sup.wait_for(10.0, "ready through the env file's token", || {
        let st = sup.status();
        st["ready"] == true && st["healthy"] == true
    });
    sb.write("app.env", "TOKEN=rotated\n");
    sup.wait_for(10.0, "the health check sees the file's new token", || {
        sup.status()["healthy"] == false
    });
    sb.write("app.env", "TOKEN\n");
    let want = format!("env_file {}:1: missing '='", sb.path("app.env").display());
    sup.wait_for(10.0, "a broken file named by the failing check", || {
        sup.history().iter().any(|e| e.to_string().contains(&want)) || sup.status().to_string().contains(&want)
    });
}
