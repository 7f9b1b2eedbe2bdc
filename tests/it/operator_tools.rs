//! Operators' tools: the manual pages (`man/`), the shell completions
//! (`completions/`), the Debian package (`cargo deb`, `debian/`) and the
//! container example (`examples/container/`).
//!
//! What the pages must document is read from the binaries themselves (their
//! `-h` output, and the keys `immortal -cc` names when it rejects an unknown
//! one), so a new flag, verb or `run.yml` key without its documentation
//! fails here. The tools these tests drive (mandoc, zsh, fish, cargo-deb,
//! lintian, systemd-analyze, unshare) are installed by
//! `scripts/install-peers`; a missing one is a failure that says so, never a
//! silent skip.

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const IMMORTAL: &str = env!("CARGO_BIN_EXE_immortal");
const IMMORTALCTL: &str = env!("CARGO_BIN_EXE_immortalctl");
const IMMORTALLOG: &str = env!("CARGO_BIN_EXE_immortallog");
const IMMORTALSVC: &str = env!("CARGO_BIN_EXE_immortalsvc");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

const PAGES: &[&str] = &[
    "immortal.8",
    "immortalctl.8",
    "immortallog.8",
    "immortalsvc.8",
    "run.yml.5",
];

// ---------------------------------------------------------------- helpers

fn repo(rel: &str) -> PathBuf {
    Path::new(ROOT).join(rel)
}

/// Fail (not skip) when a tool that scripts/install-peers installs is missing.
fn need(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "{tool} is not installed: run scripts/install-peers (as root) first"
    );
}

fn run(cmd: &mut Command) -> Output {
    let shown = format!("{cmd:?}");
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"))
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

fn help(bin: &str) -> String {
    let out = run(Command::new(bin).arg("-h"));
    assert!(out.status.success(), "{bin} -h: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_for(secs: f64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out after {secs}s waiting for: {what}");
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("immortal-optools-").tempdir().unwrap()
}

/// Processes started by a test, ended by pid when it ends, even on failure:
/// SIGTERM, a grace period, then SIGKILL to each pid and to each process
/// group registered.
#[derive(Default)]
struct Reaper {
    children: Vec<Child>,
    groups: Vec<i32>,
}

impl Reaper {
    fn spawn(&mut self, cmd: &mut Command) -> u32 {
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// The exit status of child `pid` within `secs`, if it exits.
    fn wait(&mut self, pid: u32, secs: f64) -> Option<std::process::ExitStatus> {
        let child = self.children.iter_mut().find(|c| c.id() == pid)?;
        let deadline = Instant::now() + Duration::from_secs_f64(secs);
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                return Some(st);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        for c in &self.children {
            let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for c in &mut self.children {
            while Instant::now() < deadline && matches!(c.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        for g in &self.groups {
            let _ = killpg(Pid::from_raw(*g), Signal::SIGKILL);
        }
    }
}

// ------------------------------------------------------- reading -h output

/// The option words of a `-h` text: `-x`, `--json`, `-ctl`… split at
/// spaces and `[ ] | ( ) ,`; placeholders in capitals (`-SIGNAL`) and
/// words with other characters (`-r's`, `-1:`) are not options.
fn flags_in(help: &str) -> BTreeSet<String> {
    help.split(|c: char| c.is_whitespace() || "[]|(),".contains(c))
        .filter_map(|w| {
            let name = w.trim_start_matches('-');
            let dashes = w.len() - name.len();
            let is_option = (1..=2).contains(&dashes)
                && !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric())
                && !(name.len() > 1 && name.chars().all(|c| c.is_ascii_uppercase()));
            is_option.then(|| name.to_string())
        })
        .collect()
}

/// The lines of a `-h` section: after the line `title` (trimmed, as is),
/// until an empty line or one indented no more than the title.
fn section<'a>(help: &'a str, title: &str) -> Vec<&'a str> {
    let mut lines = help.lines();
    let Some(head) = lines.by_ref().find(|l| l.trim() == title) else {
        panic!("no '{title}' section in:\n{help}");
    };
    let indent = |l: &str| l.len() - l.trim_start().len();
    let at = indent(head);
    lines.take_while(|l| !l.trim().is_empty() && indent(l) > at).collect()
}

/// Environment variables named in a `-h` text's Environment section (its
/// last): the capitalized words that start its lines (`XDG_RUNTIME_DIR,
/// HOME   as above`), and any word with an underscore in it.
fn env_vars_in(help: &str) -> BTreeSet<String> {
    let Some(start) = help.find("Environment:") else {
        return BTreeSet::new();
    };
    let is_var = |w: &str| {
        !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    };
    let mut vars = BTreeSet::new();
    for line in help[start..].lines().skip(1) {
        let words: Vec<&str> = line
            .split_whitespace()
            .map(|w| w.trim_matches(|c| ",;.()".contains(c)))
            .collect();
        vars.extend(
            words
                .iter()
                .take_while(|w| is_var(w) && w.len() > 1)
                .map(|w| w.to_string()),
        );
        vars.extend(
            words
                .iter()
                .filter(|w| is_var(w) && w.contains('_'))
                .map(|w| w.to_string()),
        );
    }
    vars
}

// ------------------------------------------------------- reading the pages

/// Every (macro, argument) pair of an mdoc page: `.It Fl c Ar run.yml`
/// gives (It, Fl), (Fl, c), (Ar, run.yml). Arguments are taken as written,
/// with `\-` turned into `-` and `\&` dropped.
fn macro_args(page: &str) -> Vec<(String, String)> {
    let is_macro = |w: &str| {
        let mut c = w.chars();
        c.next().is_some_and(|f| f.is_ascii_uppercase())
            && (2..=3).contains(&w.len())
            && c.all(|x| x.is_ascii_lowercase())
    };
    let mut out = Vec::new();
    for line in page.lines().filter_map(|l| l.strip_prefix('.')) {
        let mut current: Option<String> = None;
        for word in line.split_whitespace() {
            if is_macro(word) {
                current = Some(word.to_string());
                continue;
            }
            if let Some(m) = &current {
                out.push((m.clone(), word.replace("\\-", "-").replace("\\&", "")));
            }
        }
    }
    out
}

/// The list items of a page: its `.It` lines (where each option, verb and
/// key has its entry), as a page of their own.
fn items(page: &str) -> String {
    page.lines()
        .filter(|l| l.starts_with(".It "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The options a page documents with an entry of their own: `.It Fl NAME`
/// (dashes dropped; `.It Fl v , Fl version` and table rows `.It Fl 1 Ta
/// Dv SIGUSR1 Ta Fl 2` count), and multilog-style actions `.It Cm \- Ns Ar
/// NAME`.
fn documented_flags(page: &str) -> BTreeSet<String> {
    let items = items(page);
    let mut names: BTreeSet<String> = macro_args(&items)
        .into_iter()
        .filter(|(m, _)| m == "Fl")
        .map(|(_, a)| a.trim_start_matches('-').to_string())
        .collect();
    for (i, m) in items.match_indices("\\- Ns Ar ") {
        if let Some(name) = items[i + m.len()..].split_whitespace().next() {
            names.insert(name.to_string());
        }
    }
    names
}

/// The arguments of macro `mac` anywhere in a page.
fn documented(page: &str, mac: &str) -> BTreeSet<String> {
    macro_args(page)
        .into_iter()
        .filter(|(m, _)| m == mac)
        .map(|(_, a)| a)
        .collect()
}

fn page(name: &str) -> String {
    fs::read_to_string(repo("man").join(name)).unwrap_or_else(|e| panic!("man/{name}: {e}"))
}

fn missing(wanted: &BTreeSet<String>, have: &BTreeSet<String>) -> Vec<String> {
    wanted.difference(have).cloned().collect()
}

/// `immortal -cc` on a file with an unknown key (at the top, or inside
/// `block`) lists the keys it accepts: `expected one of `a`, `b``.
fn run_yml_keys(block: Option<&str>) -> Option<BTreeSet<String>> {
    let dir = tempdir();
    let file = dir.path().join("probe.yml");
    let body = match block {
        None => "cmd: sleep 1\nzz_not_a_key: 1\n".to_string(),
        Some(b) => format!("cmd: sleep 1\n{b}:\n  zz_not_a_key: 1\n"),
    };
    fs::write(&file, body).unwrap();
    let out = run(Command::new(IMMORTAL).arg("-c").arg(&file).arg("-cc"));
    // A block that takes any key (env) is no list of keys.
    assert!(
        block.is_some() || !out.status.success(),
        "immortal -cc accepted an unknown key"
    );
    let err = text(&out);
    let list = err.split("unknown field `zz_not_a_key`, expected ").nth(1)?;
    let list = list.lines().next().unwrap_or("");
    Some(list.split('`').skip(1).step_by(2).map(String::from).collect())
}

// ------------------------------------------------------------ manual pages

#[test]
fn manual_pages_pass_mandoc_lint() {
    need("mandoc");
    for name in PAGES {
        let path = repo("man").join(name);
        let out = run(Command::new("mandoc").args(["-T", "lint", "-W", "warning"]).arg(&path));
        assert!(
            out.status.success() && text(&out).trim().is_empty(),
            "mandoc -T lint -W warning man/{name}:\n{}",
            text(&out)
        );
        // And it renders (what man(1) shows).
        let out = run(Command::new("mandoc").args(["-T", "utf8"]).arg(&path));
        assert!(out.status.success() && out.stdout.len() > 500, "mandoc man/{name}");
    }
}

#[test]
fn every_flag_and_environment_variable_is_documented() {
    for (bin, name) in [
        (IMMORTAL, "immortal"),
        (IMMORTALCTL, "immortalctl"),
        (IMMORTALLOG, "immortallog"),
        (IMMORTALSVC, "immortalsvc"),
    ] {
        let help = help(bin);
        let text = page(&format!("{name}.8"));
        let flags = flags_in(&help);
        assert!(flags.contains("v"), "{name} -h names no -v: {flags:?}");
        let undocumented = missing(&flags, &documented_flags(&text));
        assert!(
            undocumented.is_empty(),
            "man/{name}.8 has no entry (.It Fl) for these options of `{name} -h`: {undocumented:?}"
        );
        let vars = env_vars_in(&help);
        let undocumented = missing(&vars, &documented(&text, "Ev"));
        assert!(
            undocumented.is_empty(),
            "man/{name}.8 does not document (as Ev) these variables of `{name} -h`: {undocumented:?}"
        );
    }
    // The parser of -h output sees what it must.
    let flags = flags_in(&help(IMMORTAL));
    for f in ["c", "cc", "ctl", "logger", "P", "p", "version"] {
        assert!(flags.contains(f), "immortal -h: -{f} not found in {flags:?}");
    }
    assert!(flags_in(&help(IMMORTALCTL)).contains("json"));
    assert!(flags_in(&help(IMMORTALLOG)).contains("ttt"));
}

#[test]
fn every_immortalctl_verb_and_signal_is_documented() {
    let help = help(IMMORTALCTL);
    let text = page("immortalctl.8");
    let (verbs, signals) = ctl_verbs_and_signals(&help);
    assert!(verbs.len() >= 9 && signals.len() >= 13, "{verbs:?} {signals:?}");
    let undocumented = missing(&verbs, &documented(&items(&text), "Cm"));
    assert!(
        undocumented.is_empty(),
        "man/immortalctl.8 has no entry (.It Cm) for the verbs {undocumented:?}"
    );
    let flags = documented_flags(&text);
    let sigs = documented(&text, "Dv");
    for (flag, sig) in &signals {
        assert!(flags.contains(flag), "man/immortalctl.8 lacks the signal flag -{flag}");
        assert!(sigs.contains(&format!("SIG{sig}")), "man/immortalctl.8 lacks SIG{sig}");
    }
}

/// The verbs (with their `(also: x)` aliases) and the signal flags (`-1
/// USR1`) that `immortalctl -h` lists.
fn ctl_verbs_and_signals(help: &str) -> (BTreeSet<String>, Vec<(String, String)>) {
    let mut verbs = BTreeSet::new();
    for line in section(help, "Verbs:") {
        let mut words = line.split_whitespace();
        if let Some(v) = words.next() {
            verbs.insert(v.to_string());
        }
        if let Some(also) = line.split("(also: ").nth(1) {
            verbs.extend(also.split(')').next().unwrap_or("").split(", ").map(String::from));
        }
    }
    let words: Vec<&str> = section(help, "Signals:")
        .iter()
        .flat_map(|l| l.split_whitespace())
        .collect();
    let signals = words
        .chunks(2)
        .map(|p| (p[0].trim_start_matches('-').to_string(), p[1].to_string()))
        .collect();
    (verbs, signals)
}

#[test]
fn every_run_yml_key_is_documented() {
    let text = page("run.yml.5");
    let have = documented(&items(&text), "Ic");
    let top = run_yml_keys(None).expect("immortal -cc names the keys it accepts");
    for k in ["cmd", "log", "stop", "require"] {
        assert!(top.contains(k), "keys found: {top:?}");
    }
    let undocumented = missing(&top, &have);
    assert!(
        undocumented.is_empty(),
        "man/run.yml.5 has no entry (.It Ic) for the keys {undocumented:?}"
    );
    // A key whose value is a mapping: its own keys too.
    let mut blocks = 0;
    for key in &top {
        if let Some(inner) = run_yml_keys(Some(key)) {
            blocks += 1;
            let undocumented = missing(&inner, &have);
            assert!(
                undocumented.is_empty(),
                "man/run.yml.5 has no entry (.It Ic) for the keys of {key}: {undocumented:?}"
            );
        }
    }
    assert!(blocks >= 4, "pid, log, stderr and stop are mappings");
}

// ------------------------------------------------------------- completions

/// Two supervisors (`immortal -n -ctl NAME sleep 300`) in a sandbox.
struct Services {
    dir: tempfile::TempDir,
    reaper: Reaper,
    names: [&'static str; 2],
}

impl Services {
    fn start() -> Services {
        let dir = tempdir();
        let mut s = Services {
            dir,
            reaper: Reaper::default(),
            names: ["web-one", "db_two"],
        };
        for name in s.names {
            let mut cmd = Command::new(IMMORTAL);
            cmd.args(["-n", "-ctl", name, "sleep", "300"]);
            s.env(&mut cmd);
            s.reaper.spawn(cmd.stdout(Stdio::null()).stderr(Stdio::null()));
            let pidfile = s.sdir().join(name).join("pid");
            wait_for(10.0, &format!("{name} running"), || {
                fs::read_to_string(&pidfile).is_ok_and(|p| p.trim().parse::<i32>().is_ok_and(|p| p > 0))
            });
            // The service leads its own process group: end it with the test.
            let service: i32 = fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
            s.reaper.groups.push(service);
        }
        s
    }

    fn sdir(&self) -> PathBuf {
        self.dir.path().join("sdir")
    }

    /// The sandbox's environment: its IMMORTAL_SDIR and HOME (so that no
    /// `~/.immortal` service of the user's shows), the binaries on PATH.
    fn env<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        let path = format!(
            "{}:{}",
            Path::new(IMMORTALCTL).parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        cmd.env("IMMORTAL_SDIR", self.sdir())
            .env("HOME", self.dir.path())
            .env("PATH", path)
            .env_remove("XDG_RUNTIME_DIR")
    }
}

/// Run bash's completion function `func` of `file` on `words` (the last
/// one being completed); COMPREPLY, one entry a line.
fn bash_complete(s: &Services, file: &str, func: &str, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words
        .iter()
        .map(|w| format!("'{}'", w.replace('\'', "'\\''")))
        .collect();
    let script = format!(
        "source '{}' || exit 9\nCOMP_WORDS=({})\nCOMP_CWORD={}\nCOMPREPLY=()\n{func}\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        repo("completions/bash").join(file).display(),
        quoted.join(" "),
        words.len() - 1
    );
    let out = run(s
        .env(&mut Command::new("bash"))
        .args(["--norc", "--noprofile", "-c", &script]));
    assert!(out.status.success(), "bash completion {file}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

fn has_all(got: &[String], want: impl IntoIterator<Item = String>, what: &str) {
    let got: BTreeSet<&str> = got.iter().map(String::as_str).collect();
    let absent: Vec<String> = want.into_iter().filter(|w| !got.contains(w.as_str())).collect();
    assert!(absent.is_empty(), "{what}: missing {absent:?} in {got:?}");
}

#[test]
fn bash_completion_offers_verbs_signals_and_running_services() {
    let s = Services::start();
    let names = || s.names.iter().map(|n| n.to_string());
    let (verbs, signals) = ctl_verbs_and_signals(&help(IMMORTALCTL));
    let ctl = |words: &[&str]| bash_complete(&s, "immortalctl", "_immortalctl", words);

    let first = ctl(&[IMMORTALCTL, ""]);
    has_all(&first, verbs.iter().cloned(), "immortalctl <TAB>: verbs");
    has_all(&first, names(), "immortalctl <TAB>: services");

    let dash = ctl(&[IMMORTALCTL, "-"]);
    has_all(
        &dash,
        signals.iter().map(|(f, _)| format!("-{f}")),
        "immortalctl -<TAB>: signals",
    );
    has_all(
        &dash,
        flags_in(&help(IMMORTALCTL))
            .into_iter()
            .map(|f| if f == "json" { "--json".into() } else { format!("-{f}") }),
        "immortalctl -<TAB>: options",
    );

    for words in [
        [IMMORTALCTL, "stop", ""],
        [IMMORTALCTL, "-2", ""],
        [IMMORTALCTL, "-A", ""],
    ] {
        let got = ctl(&words);
        has_all(&got, names(), &format!("{words:?}"));
        if words[1] == "-A" {
            has_all(&got, verbs.iter().cloned(), "-A then verbs");
        } else {
            has_all(&got, ["'*'".to_string()], &format!("{words:?}: every service"));
            assert!(
                !got.iter().any(|w| verbs.contains(w)),
                "{words:?}: no verb after a verb: {got:?}"
            );
        }
    }
    assert_eq!(ctl(&[IMMORTALCTL, "we"]), ["web-one"]);
    assert!(
        ctl(&[IMMORTALCTL, "stop", "web-one", ""]).is_empty(),
        "nothing after the target"
    );

    // The other binaries: their -h options.
    let got = bash_complete(&s, "immortal", "_immortal", &["immortal", "-"]);
    has_all(
        &got,
        flags_in(&help(IMMORTAL)).into_iter().map(|f| format!("-{f}")),
        "immortal -<TAB>",
    );
    let got = bash_complete(&s, "immortal", "_immortal", &["immortal", "-ctl", "x", "-n", "slee"]);
    has_all(&got, ["sleep".to_string()], "immortal ... command");
    let got = bash_complete(&s, "immortallog", "_immortallog", &["immortallog", "-t"]);
    has_all(&got, ["-t", "-tt", "-ttt"].map(String::from), "immortallog -t<TAB>");
    let got = bash_complete(&s, "immortalsvc", "_immortalsvc", &["immortalsvc", "-"]);
    has_all(&got, ["-v", "-h", "-check"].map(String::from), "immortalsvc -<TAB>");
}

/// zsh's completion, run for real: an interactive zsh in a pty (zpty)
/// loads completions/zsh with compinit, `compadd` records every match in a
/// file, and a key bound after TAB says it is done.
const ZSH_HARNESS: &str = r#"
zmodload zsh/zpty
local out=$2
zpty z zsh -f -i
zpty -w z "fpath=($1 \$fpath); autoload -U compinit; compinit -u -D"
zpty -w z 'compadd () {
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return $?; fi
  typeset -a __hits; builtin compadd -A __hits "$@"; local r=$?
  (( $#__hits )) && print -r -l -- $__hits >> '$out'
  builtin compadd "$@"
  return r
}'
zpty -w z "bindkey '^I' complete-word"
zpty -w z "__end() { : > '$out.done'; }; zle -N __end; bindkey '^X' __end"
zpty -w -n z "$3"$'\t\x18'
local i
for i in {1..150}; do [[ -e $out.done ]] && break; sleep 0.1; done
zpty -d z
[[ -e $out.done ]] || { print -u2 "zsh harness: the completion did not finish"; exit 1 }
[[ -e $out ]] && cat $out
exit 0
"#;

#[test]
fn zsh_and_fish_completions_parse_and_offer_running_services() {
    need("zsh");
    need("fish");
    let out = run(Command::new("zsh").arg("-n").arg(repo("completions/zsh/_immortal")));
    assert!(out.status.success(), "zsh -n _immortal: {}", text(&out));
    for f in fs::read_dir(repo("completions/fish")).unwrap() {
        let f = f.unwrap().path();
        let out = run(Command::new("fish").arg("-n").arg(&f));
        assert!(out.status.success(), "fish -n {}: {}", f.display(), text(&out));
    }

    let s = Services::start();
    let names = || s.names.iter().map(|n| n.to_string());
    let (verbs, signals) = ctl_verbs_and_signals(&help(IMMORTALCTL));
    let harness = s.dir.path().join("harness.zsh");
    fs::write(&harness, ZSH_HARNESS).unwrap();
    let zsh = |line: &str| -> Vec<String> {
        let hits = s.dir.path().join("hits");
        let _ = fs::remove_file(&hits);
        let _ = fs::remove_file(hits.with_extension("done"));
        let out = run(s
            .env(&mut Command::new("zsh"))
            .arg("-f")
            .arg(&harness)
            .arg(repo("completions/zsh"))
            .arg(&hits)
            .arg(line));
        assert!(out.status.success(), "zsh completion of '{line}': {}", text(&out));
        String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect()
    };
    let got = zsh("immortalctl ");
    has_all(&got, verbs.iter().cloned(), "zsh: immortalctl <TAB>: verbs");
    has_all(&got, names(), "zsh: immortalctl <TAB>: services");
    has_all(&zsh("immortalctl stop "), names(), "zsh: immortalctl stop <TAB>");
    let got = zsh("immortalctl -");
    has_all(
        &got,
        signals.iter().map(|(f, _)| format!("-{f}")),
        "zsh: immortalctl -<TAB>: signals",
    );
    has_all(&zsh("immortalctl -A "), names(), "zsh: immortalctl -A <TAB>");

    let fish = |line: &str| -> Vec<String> {
        let script = format!(
            "for f in {}/*.fish; source $f; end; complete -C '{line}'",
            repo("completions/fish").display()
        );
        let out = run(s.env(&mut Command::new("fish")).args(["--no-config", "-c", &script]));
        assert!(out.status.success(), "fish completion of '{line}': {}", text(&out));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split('\t').next().unwrap_or("").to_string())
            .collect()
    };
    let got = fish("immortalctl ");
    has_all(&got, verbs.iter().cloned(), "fish: immortalctl <TAB>: verbs");
    has_all(&got, names(), "fish: immortalctl <TAB>: services");
    let got = fish("immortalctl stop ");
    has_all(&got, names(), "fish: immortalctl stop <TAB>");
    assert!(
        !got.iter().any(|w| verbs.contains(w)),
        "fish: no verb after a verb: {got:?}"
    );
    has_all(
        &fish("immortalctl -"),
        signals.iter().map(|(f, _)| format!("-{f}")),
        "fish: immortalctl -<TAB>",
    );
    has_all(
        &fish("immortal -"),
        flags_in(&help(IMMORTAL)).into_iter().map(|f| format!("-{f}")),
        "fish: immortal -<TAB>",
    );
}

// ---------------------------------------------------------- Debian package

/// The newest modification time under `path` (a file or a directory tree).
fn newest(path: &Path) -> std::time::SystemTime {
    let meta = fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut t = meta.modified().unwrap();
    if meta.is_dir() {
        for e in fs::read_dir(path).unwrap().flatten() {
            t = t.max(newest(&e.path()));
        }
    }
    t
}

/// The package to check: the release one that `scripts/deb` left in
/// target/debian/ if it is newer than everything it is made of; else one
/// built now by cargo-deb from the binaries this test run built (`--profile
/// dev --no-build`: seconds, where a release build takes minutes), from the
/// same metadata. (cargo-deb removes older .debs of the package from
/// target/debian/ when it builds one: only a stale one is ever replaced.)
fn the_deb(scratch: &Path) -> PathBuf {
    need("cargo-deb");
    let arch = text(&run(Command::new("dpkg").arg("--print-architecture")));
    // scripts/deb builds for an explicit target (scripts/build-env), so
    // cargo-deb writes to target/$host/debian.
    let dir = match std::env::var("CARGO_BUILD_TARGET") {
        Ok(host) if !host.is_empty() => format!("target/{host}/debian"),
        _ => "target/debian".to_string(),
    };
    let release = repo(&format!(
        "{dir}/immortal_{}-1_{}.deb",
        env!("CARGO_PKG_VERSION"),
        arch.trim()
    ));
    let inputs = [
        "Cargo.toml",
        "Cargo.lock",
        "src",
        "man",
        "completions",
        "debian",
        "README.md",
        "docs",
    ];
    let made = fs::metadata(&release).and_then(|m| m.modified()).ok();
    if made.is_some_and(|made| inputs.iter().all(|i| newest(&repo(i)) <= made)) {
        return release;
    }
    let out_dir = scratch.join("deb");
    let out = run(Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(ROOT)
        .args(["deb", "--profile", "dev", "--no-build", "--fast", "-q", "-o"])
        .arg(&out_dir));
    assert!(out.status.success(), "cargo deb: {}", text(&out));
    fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .expect("cargo deb made a .deb")
}

/// Whether an ELF64 little-endian file asks for a dynamic loader (PT_INTERP).
fn has_interpreter(elf: &[u8]) -> bool {
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap()) as usize;
    let (phoff, phentsize, phnum) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    (0..phnum).any(|i| u32::from_le_bytes(elf[phoff + i * phentsize..][..4].try_into().unwrap()) == 3)
}

#[test]
fn debian_package_installs_working_binaries_pages_completions_and_unit() {
    need("dpkg-deb");
    need("lintian");
    need("systemd-analyze");
    let tmp = tempdir();
    let deb = the_deb(tmp.path());

    // What it holds.
    let listing = text(&run(Command::new("dpkg-deb").arg("-c").arg(&deb)));
    for path in [
        "./usr/bin/immortal",
        "./usr/bin/immortalctl",
        "./usr/bin/immortallog",
        "./usr/bin/immortalsvc",
        "./usr/share/man/man8/immortal.8.gz",
        "./usr/share/man/man8/immortalctl.8.gz",
        "./usr/share/man/man8/immortallog.8.gz",
        "./usr/share/man/man8/immortalsvc.8.gz",
        "./usr/share/man/man5/run.yml.5.gz",
        "./usr/share/bash-completion/completions/immortal",
        "./usr/share/bash-completion/completions/immortalctl",
        "./usr/share/bash-completion/completions/immortallog",
        "./usr/share/bash-completion/completions/immortalsvc",
        "./usr/share/zsh/vendor-completions/_immortal",
        "./usr/share/fish/vendor_completions.d/immortalctl.fish",
        "./usr/share/fish/vendor_completions.d/immortal.fish",
        "./usr/lib/systemd/system/immortal.service",
        "./etc/immortal/README",
        "./usr/share/doc/immortal/README.md",
        "./usr/share/doc/immortal/docs/immortal.md",
        "./usr/share/doc/immortal/docs/run.yml.md",
    ] {
        assert!(
            listing.lines().any(|l| l.ends_with(&format!(" {path}"))),
            "{path} not in the package:\n{listing}"
        );
    }
    let conffiles = text(&run(Command::new("dpkg-deb").arg("-I").arg(&deb).arg("conffiles")));
    assert!(conffiles.contains("/etc/immortal/README"), "conffiles: {conffiles}");
    let control = text(&run(Command::new("dpkg-deb").arg("-f").arg(&deb)));
    // A dynamic build depends on libc6; the shipped static one needs none.
    let depends = control
        .lines()
        .find(|l| l.starts_with("Depends:"))
        .unwrap_or("Depends:");
    let root = tmp.path().join("root");
    let out = run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));
    assert!(out.status.success(), "dpkg-deb -x: {}", text(&out));
    let elf = fs::read(root.join("usr/bin/immortal")).unwrap();
    if has_interpreter(&elf) {
        assert!(depends.contains("libc6"), "control:\n{control}");
    } else {
        assert_eq!(depends.trim(), "Depends:", "control:\n{control}");
    }

    // The extracted binaries work.
    let bin = |b: &str| root.join("usr/bin").join(b);
    let out = run(Command::new(bin("immortal")).arg("--version"));
    assert!(out.status.success(), "immortal --version: {}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), env!("CARGO_PKG_VERSION"));
    let out = run(Command::new(bin("immortalctl")).arg("-h"));
    assert!(
        out.status.success() && text(&out).contains("usage: immortalctl"),
        "{}",
        text(&out)
    );
    let unit = fs::read_to_string(root.join("usr/lib/systemd/system/immortal.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/bin/immortalsvc /etc/immortal"), "{unit}");
    for doc in ["immortalsvc.8", "run.yml.5", "immortalctl.8"] {
        let (name, sect) = doc.rsplit_once('.').unwrap();
        assert!(unit.contains(&format!("man:{name}({sect})")), "{unit}");
        assert!(root.join(format!("usr/share/man/man{sect}/{doc}.gz")).is_file());
    }
    supervise_a_sleep(&bin("immortal"), &bin("immortalctl"), tmp.path());

    // The unit, checked by systemd against the package's own tree (with the
    // targets it names, and kill(1) for ExecReload, brought in from the
    // host; man pages are checked above: no man(1) here).
    let _ = std::os::unix::fs::symlink("usr/bin", root.join("bin"));
    fs::copy("/bin/kill", root.join("usr/bin/kill")).expect("copy /bin/kill");
    for t in fs::read_dir("/usr/lib/systemd/system").expect("systemd's units") {
        let t = t.unwrap().path();
        if t.extension().is_some_and(|e| e == "target") && t.is_file() {
            fs::copy(&t, root.join("usr/lib/systemd/system").join(t.file_name().unwrap())).unwrap();
        }
    }
    let out = run(Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(format!("--root={}", root.display()))
        .arg("immortal.service"));
    assert!(
        out.status.success() && text(&out).trim().is_empty(),
        "systemd-analyze verify immortal.service:\n{}",
        text(&out)
    );

    // lintian: no errors (its warnings are listed in docs/packaging.md).
    let out = run(Command::new("lintian").arg(&deb));
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    let errors: Vec<&str> = report.lines().filter(|l| l.starts_with("E:")).collect();
    assert!(errors.is_empty(), "lintian errors:\n{report}");
}

/// One real supervised `sleep` from the extracted package: up, seen by its
/// immortalctl, and gone after SIGTERM to the supervisor (exit 0).
fn supervise_a_sleep(immortal: &Path, immortalctl: &Path, tmp: &Path) {
    let sdir = tmp.join("sdir");
    let mut reaper = Reaper::default();
    let sup = reaper.spawn(
        Command::new(immortal)
            .args(["-n", "-ctl", "pkg-sleep", "sleep", "300"])
            .env("IMMORTAL_SDIR", &sdir)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let pidfile = sdir.join("pkg-sleep/pid");
    let pid = || {
        fs::read_to_string(&pidfile)
            .ok()?
            .trim()
            .parse::<i32>()
            .ok()
            .filter(|p| *p > 0)
    };
    wait_for(10.0, "the packaged immortal runs sleep", || pid().is_some());
    let service = pid().unwrap();
    reaper.groups.push(service);
    let cmdline = fs::read(format!("/proc/{service}/cmdline")).unwrap_or_default();
    assert_eq!(cmdline, b"sleep\x00300\x00", "the service is the sleep");
    let out = run(Command::new(immortalctl)
        .args(["--json", "pkg-sleep"])
        .env("IMMORTAL_SDIR", &sdir)
        .env("HOME", tmp));
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(status.contains(&format!("\"pid\": {service}")), "immortalctl: {status}");
    kill(Pid::from_raw(sup as i32), Signal::SIGTERM).unwrap();
    let st = reaper.wait(sup, 15.0).expect("the supervisor exits after SIGTERM");
    assert!(st.success(), "supervisor exit: {st}");
    assert!(!Path::new(&format!("/proc/{service}")).exists(), "the sleep is gone");
}

// ------------------------------------------------------- container example

/// What /proc says of a process: state letter, parent, pid namespace.
fn proc_stat(pid: i32) -> Option<(char, i32, String)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let mut f = after.split_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    let ns = fs::read_link(format!("/proc/{pid}/ns/pid")).ok()?;
    Some((state, ppid, ns.display().to_string()))
}

/// Every process of pid namespace `ns`: (pid, state, ppid, cmdline).
fn processes_in(ns: &str) -> Vec<(i32, char, i32, String)> {
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Some((state, ppid, pns)) = proc_stat(pid) {
            if pns == ns {
                let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
                out.push((pid, state, ppid, cmd.trim().to_string()));
            }
        }
    }
    out
}

/// Zombies that stay: in Z state at two looks 300 ms apart.
fn lasting_zombies(ns: &str) -> Vec<(i32, char, i32, String)> {
    let first: Vec<i32> = processes_in(ns).iter().filter(|p| p.1 == 'Z').map(|p| p.0).collect();
    if first.is_empty() {
        return Vec::new();
    }
    std::thread::sleep(Duration::from_millis(300));
    processes_in(ns)
        .into_iter()
        .filter(|p| p.1 == 'Z' && first.contains(&p.0))
        .collect()
}

#[test]
fn container_example_immortalsvc_as_pid_1_reaps_and_stops_cleanly() {
    need("unshare");
    need("nsenter");
    let tmp = tempdir();
    // The example's services, copied: a service directory gets supervise/.
    let services = tmp.path().join("services");
    let out = run(Command::new("cp")
        .arg("-a")
        .arg(repo("examples/container/services"))
        .arg(&services));
    assert!(out.status.success(), "cp: {}", text(&out));
    let dockerfile = fs::read_to_string(repo("examples/container/Dockerfile")).unwrap();
    assert!(dockerfile.contains(r#"ENTRYPOINT ["/usr/bin/immortalsvc", "/etc/immortal"]"#));
    assert!(dockerfile.contains("COPY examples/container/services/ /etc/immortal/"));

    let sdir = tmp.path().join("sdir");
    let mut reaper = Reaper::default();
    let log = fs::File::create(tmp.path().join("out")).unwrap();
    let unshare = reaper.spawn(
        Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", IMMORTALSVC])
            .arg(&services)
            .env("IMMORTAL_SDIR", &sdir)
            .stdout(log.try_clone().unwrap())
            .stderr(log),
    );
    let output = || fs::read_to_string(tmp.path().join("out")).unwrap_or_default();
    // PID 1 of the new namespace: unshare's child.
    let mut init = 0;
    wait_for(10.0, "immortalsvc as PID 1 of a new namespace", || {
        let kids = fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children")).unwrap_or_default();
        init = kids.split_whitespace().next().and_then(|p| p.parse().ok()).unwrap_or(0);
        init > 0
    });
    // Killing PID 1 ends the whole namespace, whatever happens below.
    struct KillNamespace(i32);
    impl Drop for KillNamespace {
        fn drop(&mut self) {
            let _ = kill(Pid::from_raw(self.0), Signal::SIGKILL);
        }
    }
    let _guard = KillNamespace(init);
    let ns = fs::read_link(format!("/proc/{init}/ns/pid"))
        .unwrap()
        .display()
        .to_string();
    assert_ne!(ns, fs::read_link("/proc/self/ns/pid").unwrap().display().to_string());
    let status = fs::read_to_string(format!("/proc/{init}/status")).unwrap();
    let nspid = status.lines().find(|l| l.starts_with("NSpid:")).unwrap_or("");
    assert!(
        nspid.split_whitespace().last() == Some("1"),
        "immortalsvc is PID 1: {nspid}"
    );

    // Both services up: ticker.yml and orphans/.
    let running = |what: &str| processes_in(&ns).iter().any(|p| p.3.contains(what));
    wait_for(15.0, "both services running", || {
        running("ticker:") && running("./run") && output().contains("orphans | orphans: started")
    });

    // orphans/ leaves an orphan every second, reaped by its supervisor
    // (a subreaper). Orphans that reach PID 1 itself: a process entering the
    // namespace from outside (as `docker exec` does) whose child outlives it.
    for _ in 0..3 {
        // (No pipes: the orphan would hold them open until it ends.)
        let st = Command::new("nsenter")
            .args(["-t", &init.to_string(), "-p", "--", "sh", "-c", "(sleep 0.73 &)"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run nsenter");
        assert!(st.success(), "nsenter: {st}");
    }
    let mut adopted = false;
    wait_for(5.0, "an orphan from outside adopted by PID 1", || {
        adopted |= processes_in(&ns).iter().any(|p| p.3 == "sleep 0.73" && p.2 == init);
        adopted
    });
    std::thread::sleep(Duration::from_millis(1500));
    for _ in 0..5 {
        let z = lasting_zombies(&ns);
        assert!(z.is_empty(), "zombies in the namespace: {z:?}\n{}", output());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(!running("sleep 0.73"), "the orphans ended");

    // SIGTERM to PID 1 (as `docker stop`): every service stops within its
    // timeout (ticker: 5 s; orphans: 10 s), then exit 0.
    let t0 = Instant::now();
    kill(Pid::from_raw(init), Signal::SIGTERM).unwrap();
    let st = reaper
        .wait(unshare, 20.0)
        .unwrap_or_else(|| panic!("immortalsvc did not exit:\n{}", output()));
    assert!(st.success(), "immortalsvc exit: {st}\n{}", output());
    assert!(t0.elapsed() < Duration::from_secs(11), "stopped in {:?}", t0.elapsed());
    let out = output();
    assert!(out.contains("every service stopped: exiting"), "{out}");
    assert!(!Path::new(&format!("/proc/{init}")).exists(), "the namespace is gone");
}
