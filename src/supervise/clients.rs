//! The supervisor's socket: accepting clients, answering their requests
//! (the views are [`crate::api`]'s and [`crate::metrics`]'s), who may
//! control, and the clients' deadlines. Plumbing of the loop: nothing here
//! decides about the service — a command goes to the table as an event.

use super::Supervisor;
use crate::api::{self, Client, Progress, Route};
use crate::control;
use std::time::{Instant, SystemTime};

impl Supervisor {
    pub(super) fn accept_clients(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if self.clients.len() >= api::MAX_CLIENTS {
                        self.make_room();
                    }
                    if self.clients.len() >= api::MAX_CLIENTS {
                        // Every slot holds a complete request being answered.
                        let _ = stream.set_nonblocking(true);
                        api::turn_away(&stream, 503, "too many clients");
                        continue;
                    }
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    self.clients.push(Client::new(stream, Instant::now()));
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // WouldBlock: all accepted. Anything else (EMFILE…): try
                // again at the next poll rather than spin here.
                Err(_) => break,
            }
        }
    }

    /// At capacity: serve the requests that have arrived, forget peers
    /// that closed, and if every slot is still taken, drop the oldest
    /// connection that has not sent a complete request (slowloris
    /// defence) — never refuse a newcomer because of idle or closed ones.
    fn make_room(&mut self) {
        for i in (0..self.clients.len()).rev() {
            if !self.clients[i].wants_write() {
                self.on_client(i);
            }
        }
        if self.clients.len() < api::MAX_CLIENTS {
            return;
        }
        let oldest = (0..self.clients.len())
            .filter(|&i| self.clients[i].awaiting_request())
            .min_by_key(|&i| self.clients[i].deadline);
        if let Some(i) = oldest {
            let c = self.clients.swap_remove(i);
            api::turn_away(c.stream, 503, "too many clients");
        }
    }

    pub(super) fn on_client(&mut self, i: usize) {
        let progress = if self.clients[i].wants_write() {
            self.clients[i].on_writable()
        } else {
            self.clients[i].on_readable()
        };
        let progress = match progress {
            Progress::Request(Route::Events) => {
                if self.watchers.len() >= crate::events::MAX_WATCHERS {
                    self.clients[i].reply(503, &api::error_body("too many event readers"))
                } else {
                    let c = self.clients.swap_remove(i);
                    let mut w = crate::events::Watcher::new(c.stream, &self.service_name());
                    if w.flush() == crate::events::Fate::Keep {
                        self.watchers.push(w);
                    }
                    return;
                }
            }
            Progress::Request(Route::Metrics) => {
                let text = self.metrics_text();
                self.clients[i].reply_raw(api::response_typed(200, crate::metrics::CONTENT_TYPE, &text))
            }
            Progress::Request(route) => {
                let peer = self.clients[i].peer;
                let (code, body) = self.answer(route, peer);
                self.clients[i].reply(code, &body)
            }
            other => other,
        };
        if progress == Progress::Close {
            self.clients.swap_remove(i);
        }
    }

    /// Whether `peer` may control this supervisor (see [`api::may_control`]).
    fn may_control(&self, peer: Option<api::Peer>) -> bool {
        let group = self.units[0].svc.socket.group.map(|g| g.as_raw());
        let own = nix::unistd::geteuid().as_raw();
        // The groups are read only when they could matter.
        let groups = match (peer, group) {
            (Some(p), Some(_)) if p.uid != 0 && p.uid != own => p.groups(),
            _ => Vec::new(),
        };
        api::may_control(peer, own, group, &groups)
    }

    fn answer(&mut self, route: Route, peer: Option<api::Peer>) -> (u16, String) {
        match route {
            Route::Status => {
                let unit = &self.units[0];
                let mut status = api::status_of(&unit.state, &unit.svc, self.service_name(), Instant::now());
                status.listen = unit.listen.describe();
                (200, serde_json::to_string(&status).unwrap_or_default() + "\n")
            }
            Route::History => {
                let history = api::history_of(&self.units[0].state, Instant::now(), SystemTime::now());
                (200, serde_json::to_string(&history).unwrap_or_default() + "\n")
            }
            Route::Signal(name) => {
                let who = api::Peer::describe(peer);
                if !self.may_control(peer) {
                    self.log
                        .warn(&format!("refused '{name}' from {who}: permission denied"));
                    return (403, api::error_body("permission denied"));
                }
                let errors = match control::from_word(&name) {
                    Some(cmd) => {
                        self.log.info(&format!("{name} by {who}"));
                        self.caller = Some(who);
                        let errors = self.command(0, cmd);
                        self.caller = None;
                        errors
                    }
                    None => vec![format!("unknown signal: {name}")],
                };
                (200, api::error_body(&errors.join("; ")))
            }
            // Answered by on_client (they are not JSON).
            Route::Metrics | Route::Events => (404, api::error_body("not found")),
            Route::NotFound(path) => (404, api::error_body(&format!("not found: {path}"))),
        }
    }

    pub(super) fn expire_clients(&mut self, now: Instant) {
        self.watchers.retain(|w| !w.expired(now));
        let mut i = 0;
        while i < self.clients.len() {
            if self.clients[i].deadline <= now {
                let c = self.clients.swap_remove(i);
                if !c.wants_write() {
                    api::turn_away(c.stream, 408, "request timeout");
                }
            } else {
                i += 1;
            }
        }
    }

    /// The name events and metrics carry.
    pub(super) fn service_name(&self) -> String {
        self.units[0].svc.name.clone().unwrap_or_else(|| self.dir_name())
    }

    /// `GET /metrics`: the service's series and the supervisor's own.
    pub fn metrics_text(&self) -> String {
        let unit = &self.units[0];
        let facts = crate::metrics::ServiceFacts {
            name: self.service_name(),
            log: unit.output.as_ref().map(|o| o.counts).unwrap_or_default(),
            confined: unit.cgroup.is_some(),
            logger_restarts: self.units[1..]
                .iter()
                .map(|u| u.state.tally.count.saturating_sub(1))
                .sum(),
        };
        crate::metrics::service_text(&unit.state, &facts, Instant::now())
    }

    /// The service's name: its service directory's, else its supervise
    /// directory's.
    pub(super) fn dir_name(&self) -> String {
        let dir = self.units[0].service_dir.as_ref().unwrap_or(&self.dir);
        dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}
