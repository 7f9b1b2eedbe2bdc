//! `immortal`'s command line as typed ([`Flags`]) and what it asks for
//! ([`Plan`]): print the effective configuration (`-cc`), supervise a
//! service (the command line or `-c run.yml`), or run a daemontools/runit
//! service directory. Only the `immortal` binary uses these; the service
//! itself is built by [`crate::service`].

use crate::config;
use crate::envdir;
use crate::error::{Error, Result};
use crate::layout;
use crate::listing;
use crate::service::{self, LogSpec, Service};
use crate::user;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The options of `immortal`'s command line, as typed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Flags {
    pub config: Option<PathBuf>,
    pub check_config: bool,
    pub ctl: Option<String>,
    pub name: Option<String>,
    pub wrkdir: Option<String>,
    pub envdir: Option<String>,
    pub follow: Option<String>,
    pub logfile: Option<String>,
    pub logger: Option<String>,
    pub foreground: bool,
    pub supervisor_pidfile: Option<String>,
    pub child_pidfile: Option<String>,
    pub retries: i64,
    pub user: Option<String>,
    pub wait: u64,
    pub command: Vec<String>,
}

/// What `immortal` was asked to do.
#[derive(Debug)]
pub enum Plan {
    /// `-cc`: print this YAML and exit 0.
    PrintConfig(String),
    Supervise(Box<Service>),
    /// `immortal DIR`: a daemontools/runit service directory.
    ServiceDir(PathBuf),
}

/// Turn the command line into a plan.
pub fn plan(flags: &Flags) -> Result<Plan> {
    if let Some(path) = &flags.config {
        if flags.check_config {
            // Validate everything a start would check before printing,
            // and what only the files beside it show: a require cycle.
            return listing::effective(path).map(Plan::PrintConfig);
        }
        let yml = config::load(path)?;
        let mut svc = service::from_yml(path, &yml)?;
        if flags.name.is_some() {
            svc.name.clone_from(&flags.name);
        }
        return Ok(Plan::Supervise(Box::new(svc)));
    }
    if flags.check_config {
        return Err(Error::invalid("missing config file: -cc needs -c run.yml"));
    }
    if let [only] = flags.command.as_slice() {
        let path = Path::new(only);
        if service::is_service_dir(path) {
            return Ok(Plan::ServiceDir(layout::absolute(path)));
        }
    }
    from_flags(flags).map(|s| Plan::Supervise(Box::new(s)))
}

fn from_flags(flags: &Flags) -> Result<Service> {
    if flags.command.is_empty() {
        return Err(Error::invalid("missing command, use (\"immortal -h\") for help"));
    }
    if flags.retries < -1 {
        return Err(Error::invalid(format!(
            "-r: retries must be -1 or more, not {}",
            flags.retries
        )));
    }
    let cwd = match &flags.wrkdir {
        Some(d) => Some(service::check_dir("-d", d)?),
        None => None,
    };
    let env = match &flags.envdir {
        Some(d) => envdir::read(&service::check_dir("-e", d)?)?,
        None => Vec::new(),
    };
    let user = flags.user.as_deref().map(user::resolve).transpose()?;
    Ok(Service {
        name: flags.name.clone(),
        env,
        user,
        wait: Duration::from_secs(flags.wait),
        retries: flags.retries,
        // `-l` rotates at 1 MiB, as the Go immortal does.
        log: flags.logfile.as_ref().map(|f| LogSpec {
            file: PathBuf::from(f),
            age: Duration::ZERO,
            num: 0,
            size: 1024 * 1024,
            timestamp: false,
            compress: None,
        }),
        logger: flags.logger.clone(),
        follow_pidfile: flags.follow.as_ref().map(PathBuf::from),
        supervisor_pidfile: flags.supervisor_pidfile.as_ref().map(PathBuf::from),
        child_pidfile: flags.child_pidfile.as_ref().map(PathBuf::from),
        cli: true,
        ..Service::program(flags.command.clone(), cwd)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::StopSpec;
    use nix::sys::signal::Signal;

    fn flags(cmd: &[&str]) -> Flags {
        Flags {
            retries: -1,
            command: cmd.iter().map(|s| s.to_string()).collect(),
            ..Flags::default()
        }
    }

    #[test]
    fn command_line_service() {
        let mut f = flags(&["sleep", "10"]);
        f.logfile = Some("/tmp/x.log".into());
        f.wait = 2;
        let Plan::Supervise(svc) = plan(&f).unwrap() else {
            panic!()
        };
        assert_eq!(svc.command, vec!["sleep", "10"]);
        assert!(svc.cli);
        assert_eq!(svc.wait, Duration::from_secs(2));
        assert_eq!(svc.log.unwrap().size, 1024 * 1024);
        assert_eq!(svc.stop, StopSpec::default());
    }

    #[test]
    fn command_line_errors() {
        assert!(plan(&flags(&[])).unwrap_err().to_string().contains("missing command"));
        let mut f = flags(&["x"]);
        f.wrkdir = Some("/nonexistent-dir".into());
        assert!(plan(&f).unwrap_err().to_string().contains("-d '/nonexistent-dir'"));
        let mut f = flags(&["x"]);
        f.user = Some("no-such-user-xyz".into());
        assert!(plan(&f).unwrap_err().to_string().contains("no-such-user-xyz"));
        let mut f = flags(&["x"]);
        f.check_config = true;
        assert!(plan(&f).unwrap_err().to_string().contains("-cc needs -c"));
    }

    #[test]
    fn yml_service() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.yml");
        std::fs::write(
            &path,
            "cmd: sleep  100\nstop: {signal: QUIT, timeout: 0}\nenv: {A: 1}\n",
        )
        .unwrap();
        let Plan::Supervise(svc) = plan(&Flags {
            config: Some(path.clone()),
            ..Flags::default()
        })
        .unwrap() else {
            panic!()
        };
        assert_eq!(svc.name, None);
        assert_eq!(svc.default_dir_name().as_deref(), Some("web"));
        assert_eq!(svc.command, vec!["sleep", "100"]);
        assert_eq!(svc.stop.signal, Signal::SIGQUIT);
        assert_eq!(svc.stop.timeout, None);
        assert_eq!(svc.env, vec![("A".to_string(), Some("1".to_string()))]);
        assert!(!svc.cli);
    }

    #[test]
    fn yml_missing_cwd_and_user_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.yml");
        std::fs::write(&path, "cmd: x\ncwd: /nonexistent-cwd\n").unwrap();
        let err = plan(&Flags {
            config: Some(path.clone()),
            ..Flags::default()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("bad.yml: cwd '/nonexistent-cwd'"), "{err}");
        std::fs::write(&path, "cmd: x\nuser: no-such-user-xyz\n").unwrap();
        let err = plan(&Flags {
            config: Some(path.clone()),
            ..Flags::default()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("bad.yml: user 'no-such-user-xyz'"), "{err}");
    }

    #[test]
    fn check_config_prints_effective_yaml() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.yml");
        std::fs::write(&path, "cmd: sleep 1\n").unwrap();
        let f = Flags {
            config: Some(path),
            check_config: true,
            ..Flags::default()
        };
        let Plan::PrintConfig(text) = plan(&f).unwrap() else {
            panic!()
        };
        assert!(
            text.contains("cmd:\n- sleep\n") && text.contains("retries: -1") && text.contains("signal: TERM"),
            "{text}"
        );
    }
}
