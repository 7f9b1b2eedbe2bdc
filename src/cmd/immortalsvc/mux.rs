//! One stdout for the container: the output of every service without a
//! `log:`/`logger:` of its own reaches immortalsvc's stdout (its stderr to
//! immortalsvc's stderr) as whole lines, each marked with its service
//! ([`lines`]).
//!
//! Each service has three pipes, made at its first start and kept while
//! immortalsvc knows the service: the write ends of two are the stdout and
//! stderr of every supervisor started for it (which hands them to the
//! service when it has no log of its own), the third its descriptor 3, for
//! its own messages (rendered to stderr too, but never inside a line the
//! service has only begun); immortalsvc holds both ends, so a pipe
//! outlives each supervisor and each service — nothing written is lost
//! when either dies, and a line cut by a restart is completed by the next
//! bytes. The loop reads the read ends (non-blocking, in its one `poll`),
//! assembles lines, and writes them in batches, one `write` per batch, on
//! descriptors of its own stdout and stderr that never block (see
//! [`writer`]). What it decides is plumbing; each rule once:
//!
//! | when | then |
//! |---|---|
//! | a stream's queue holds [`QUEUE_MAX`] bytes (its reader is slow) | the pipes feeding it are not read: the services block in `write`, nothing is dropped (back-pressure); read again as soon as the queue is below |
//! | many pipes are ready | each gives one read per round, the first one turning each round |
//! | a line is complete | rendered whole into the queue: a line is never interleaved with another, whatever the reads |
//! | the service is forgotten ([`super::fleet::Action::CloseOutput`]) | our write end is closed; the pipe is read until its last writer is gone, its unfinished line made a line, then closed |
//! | writing to stdout or stderr fails for good (`EPIPE`: the reader is gone) | its lines are dropped and counted from then on (the pipes are still read, so no service blocks on a reader that will never come back); said once on the other stream. `SIGPIPE` is ignored (Rust's runtime does) |
//! | immortalsvc exits ([`Mux::finish`]) | what is in the pipes is read, unfinished lines are made lines, and the queues written, waiting at most [`FINISH`] for a slow reader |
//!
//! immortalsvc's own messages ([`Mux::say`]) go through the stderr queue
//! too, so they never cut a line either.

pub mod lines;

use lines::{Format, Lines, Origin, Piece, Stream, Style};
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags};
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

/// Rendered lines waiting for a slow stdout (or stderr) before the pipes
/// feeding it stop being read.
pub const QUEUE_MAX: usize = 256 * 1024;
/// One read from a pipe, at most.
const READ_MAX: usize = 64 * 1024;
/// At exit, how long a slow reader gets to take the last lines.
pub const FINISH: Duration = Duration::from_secs(5);

/// The write ends of a service's pipes, for each supervisor started for it.
#[derive(Clone)]
pub struct Sinks {
    /// Its stdout, handed to the service.
    pub out: Rc<OwnedFd>,
    /// Its stderr, handed to the service.
    pub err: Rc<OwnedFd>,
    /// Where the supervisor writes its own messages
    /// ([`crate::sys::exec::NOTICE_FD_VAR`]).
    pub notices: Rc<OwnedFd>,
}

/// A descriptor in the loop's `poll`, for [`Mux::handle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// The read end of pipe `i` of [`Mux::fds`]'s call.
    Pipe(usize),
    /// Our stdout or stderr can take more.
    Out(Stream),
}

/// One pipe from a service.
struct Pipe {
    name: String,
    stream: Stream,
    read: File,
    /// Our write end, given to each supervisor started for `name`; `None`
    /// once the service is forgotten (then read to its end).
    write: Option<Rc<OwnedFd>>,
    lines: Lines,
}

/// immortalsvc's own stdout or stderr.
struct Out {
    fd: File,
    /// Whole rendered lines; `queue[sent..]` is not written yet.
    queue: Vec<u8>,
    sent: usize,
    /// Why writing failed for good: lines are dropped from then on.
    broken: Option<String>,
}

impl Out {
    fn waiting(&self) -> usize {
        self.queue.len() - self.sent
    }

    /// One `write` of what waits; `Some(why)` when the stream broke now.
    fn write(&mut self) -> Option<String> {
        if self.broken.is_some() || self.waiting() == 0 {
            return None;
        }
        match self.fd.write(&self.queue[self.sent..]) {
            Ok(n) => {
                self.sent += n;
                if self.sent == self.queue.len() {
                    self.queue.clear();
                    self.sent = 0;
                } else if self.sent > QUEUE_MAX {
                    self.queue.drain(..self.sent);
                    self.sent = 0;
                }
                None
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => None,
            Err(e) => {
                let why = e.to_string();
                self.broken = Some(why.clone());
                self.queue = Vec::new();
                self.sent = 0;
                Some(why)
            }
        }
    }
}

/// What went through, for the metrics and the benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub lines: u64,
    /// Lines for a stream that broke (its reader gone).
    pub dropped: u64,
}

pub struct Mux {
    format: Format,
    /// Longest name of a service known (prefixes are padded to it).
    width: usize,
    pipes: Vec<Pipe>,
    /// The longest name among `pipes`, kept as they come and go (not a
    /// walk over every pipe at each event), and the longest of the
    /// services known ([`Mux::set_width`]): `width` is the larger.
    pipes_width: usize,
    names_width: usize,
    /// The write ends handed out, by service: found without a walk over
    /// every pipe at each start.
    open: std::collections::HashMap<String, Sinks>,
    outs: [Out; 2],
    /// The pipe read first in the next round.
    turn: usize,
    buf: Vec<u8>,
    pub counts: Counts,
}

impl Mux {
    /// Lines in `format` on descriptors of our own stdout and stderr.
    pub fn new(format: Format) -> std::io::Result<Mux> {
        let stdout = writer(std::io::stdout().as_fd())?;
        let stderr = writer(std::io::stderr().as_fd())?;
        Ok(Mux::to(format, stdout, stderr))
    }

    /// Lines in `format` on `stdout` and `stderr` (non-blocking).
    fn to(format: Format, stdout: File, stderr: File) -> Mux {
        let out = |fd: File| Out {
            fd,
            queue: Vec::new(),
            sent: 0,
            broken: None,
        };
        Mux {
            format,
            width: 0,
            pipes: Vec::new(),
            pipes_width: 0,
            names_width: 0,
            open: std::collections::HashMap::new(),
            outs: [out(stdout), out(stderr)],
            turn: 0,
            buf: vec![0; READ_MAX],
            counts: Counts::default(),
        }
    }

    /// The longest name of the services known (those not started yet
    /// too, so the prefixes line up from the first line).
    pub fn set_width(&mut self, longest: usize) {
        self.names_width = longest;
        self.width = self.pipes_width.max(longest);
    }

    /// The stdout and stderr for a supervisor of `name`, and the pipe for
    /// its own messages: the write ends of its pipes, made at its first
    /// start and the same ever after.
    pub fn sinks(&mut self, name: &str) -> std::io::Result<Sinks> {
        if let Some(sinks) = self.open.get(name) {
            return Ok(sinks.clone());
        }
        // Stdout, stderr, and the supervisor's own messages apart from its
        // service's stderr (a line the service has only begun is never cut
        // by one).
        let mut make = |stream| -> std::io::Result<Rc<OwnedFd>> {
            let (read, write) = pipe()?;
            let write = Rc::new(write);
            self.pipes.push(Pipe {
                name: name.to_string(),
                stream,
                read,
                write: Some(write.clone()),
                lines: Lines::default(),
            });
            Ok(write)
        };
        let made = (|| {
            Ok(Sinks {
                out: make(Stream::Stdout)?,
                err: make(Stream::Stderr)?,
                notices: make(Stream::Stderr)?,
            })
        })();
        let sinks = match made {
            Ok(sinks) => sinks,
            Err(e) => {
                // Those made before the failure are read to their end.
                self.close(name);
                return Err(e);
            }
        };
        self.pipes_width = self.pipes_width.max(name.chars().count());
        self.set_width(self.names_width);
        self.open.insert(name.to_string(), sinks.clone());
        Ok(sinks)
    }

    /// The longest name among the pipes, after some were removed.
    fn measure_pipes(&mut self) {
        self.pipes_width = self.pipes.iter().map(|p| p.name.chars().count()).max().unwrap_or(0);
        self.set_width(self.names_width);
    }

    /// `name` is forgotten: its pipes are read until their last writer is
    /// gone (at once if none is left), then closed.
    pub fn close(&mut self, name: &str) {
        self.open.remove(name);
        for p in self.pipes.iter_mut().filter(|p| p.name == name) {
            p.write = None;
        }
    }

    /// A line of immortalsvc's own, to stderr.
    pub fn say(&mut self, text: &str) {
        let time = self.stamp();
        let style = self.style();
        let out = &mut self.outs[Stream::Stderr.index()];
        if out.broken.is_none() {
            style.render(
                &mut out.queue,
                Origin::Own,
                Stream::Stderr,
                &time,
                text.as_bytes(),
                Piece::Whole,
            );
        }
        self.flush();
    }

    fn style(&self) -> Style {
        Style {
            format: self.format,
            width: self.width,
        }
    }

    /// The time of a batch (`-o json` only: one clock read per batch).
    fn stamp(&self) -> String {
        match self.format {
            Format::Json => crate::timefmt::rfc3339(SystemTime::now()),
            Format::Prefix | Format::Plain => String::new(),
        }
    }

    /// What to poll: each pipe whose stream's queue has room, each stream
    /// with lines to write.
    pub fn fds(&self) -> Vec<(BorrowedFd<'_>, PollFlags, Tag)> {
        let mut v = Vec::new();
        for (i, p) in self.pipes.iter().enumerate() {
            if self.outs[p.stream.index()].waiting() < QUEUE_MAX {
                v.push((p.read.as_fd(), PollFlags::POLLIN, Tag::Pipe(i)));
            }
        }
        for stream in Stream::ALL {
            if self.outs[stream.index()].waiting() > 0 {
                v.push((
                    self.outs[stream.index()].fd.as_fd(),
                    PollFlags::POLLOUT,
                    Tag::Out(stream),
                ));
            }
        }
        v
    }

    /// The descriptors of `ready` (tags of the last [`Mux::fds`]) can be
    /// read or written.
    pub fn handle(&mut self, ready: &[Tag]) {
        let mut pipes: Vec<usize> = ready
            .iter()
            .filter_map(|t| match t {
                Tag::Pipe(i) => Some(*i),
                Tag::Out(_) => None,
            })
            .collect();
        if !pipes.is_empty() {
            // Fairness: the round starts with a different pipe each time.
            let first = self.turn % pipes.len();
            pipes.rotate_left(first);
            self.turn = self.turn.wrapping_add(1);
            let time = self.stamp();
            let mut ended = Vec::new();
            for i in pipes {
                if self.outs[self.pipes[i].stream.index()].waiting() >= QUEUE_MAX {
                    continue;
                }
                if self.read(i, &time) {
                    ended.push(i);
                }
            }
            self.remove(ended, &time);
        }
        self.flush();
    }

    /// One read from pipe `i`, its lines queued; whether it has ended.
    fn read(&mut self, i: usize, time: &str) -> bool {
        let n = loop {
            match self.pipes[i].read.read(&mut self.buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                // Not for a pipe; as its end.
                Err(_) => return true,
            }
        };
        if n == 0 {
            return self.pipes[i].write.is_none();
        }
        let style = self.style();
        let Mux {
            pipes,
            outs,
            counts,
            buf,
            ..
        } = self;
        let p = &mut pipes[i];
        let out = &mut outs[p.stream.index()];
        let (name, stream) = (p.name.as_str(), p.stream);
        p.lines.push(&buf[..n], &mut |text, piece| {
            counts.lines += 1;
            if out.broken.is_some() {
                counts.dropped += 1;
            } else {
                style.render(&mut out.queue, Origin::Service(name), stream, time, text, piece);
            }
        });
        false
    }

    /// Pipes `ended` (in increasing order): their last line, then closed.
    fn remove(&mut self, ended: Vec<usize>, time: &str) {
        let mut ended = ended;
        ended.sort_unstable();
        ended.dedup();
        for i in ended.into_iter().rev() {
            self.finish_line(i, time);
            let gone = self.pipes.remove(i);
            if gone.write.is_some() {
                // Ended while still handed out (a read error): the next
                // start makes new pipes, and the others of the service are
                // read to their end and closed.
                self.close(&gone.name);
            }
        }
        self.measure_pipes();
    }

    /// Pipe `i`'s unfinished line, as a line.
    fn finish_line(&mut self, i: usize, time: &str) {
        let style = self.style();
        let Mux {
            pipes, outs, counts, ..
        } = self;
        let p = &mut pipes[i];
        let out = &mut outs[p.stream.index()];
        let (name, stream) = (p.name.as_str(), p.stream);
        p.lines.finish(&mut |text, piece| {
            counts.lines += 1;
            if out.broken.is_some() {
                counts.dropped += 1;
            } else {
                style.render(&mut out.queue, Origin::Service(name), stream, time, text, piece);
            }
        });
    }

    /// One write on each stream with lines waiting (a stream not ready
    /// takes nothing: `EAGAIN`, polled for next).
    fn flush(&mut self) {
        for stream in Stream::ALL {
            if let Some(why) = self.outs[stream.index()].write() {
                let other = match stream {
                    Stream::Stdout => Stream::Stderr,
                    Stream::Stderr => Stream::Stdout,
                };
                let time = self.stamp();
                let text = format!(
                    "immortalsvc: unable to write to {}: {why}: the services' lines for it are dropped from now on",
                    stream.name()
                );
                let style = self.style();
                let o = &mut self.outs[other.index()];
                if o.broken.is_none() {
                    style.render(&mut o.queue, Origin::Own, other, &time, text.as_bytes(), Piece::Whole);
                }
            }
        }
    }

    /// Take what the services' pipes still hold, each unfinished line
    /// ended, and close them: before immortalsvc's own last words, so that
    /// those come last.
    pub fn close_pipes(&mut self) {
        let time = self.stamp();
        for i in 0..self.pipes.len() {
            self.pipes[i].write = None;
            // Bounded: a stray process still writing does not keep us.
            for _ in 0..16 {
                let waiting = crate::sys::fs::readable_bytes(self.pipes[i].read.as_fd());
                if waiting == 0 || self.read(i, &time) {
                    break;
                }
            }
            self.finish_line(i, &time);
        }
        self.pipes.clear();
        self.open.clear();
        self.measure_pipes();
    }

    /// immortalsvc exits (its services stopped): read what the pipes hold,
    /// end every unfinished line, and write it all, waiting at most
    /// `grace` for a slow reader.
    pub fn finish(&mut self, grace: Duration) {
        let deadline = Instant::now() + grace;
        self.close_pipes();
        loop {
            self.flush();
            let waiting: Vec<PollFd> = self
                .outs
                .iter()
                .filter(|o| o.broken.is_none() && o.waiting() > 0)
                .map(|o| PollFd::new(o.fd.as_fd(), PollFlags::POLLOUT))
                .collect();
            if waiting.is_empty() || Instant::now() >= deadline {
                break;
            }
            let mut fds = waiting;
            let _ = nix::poll::poll(&mut fds, crate::sys::timeout_until(Some(deadline)));
        }
    }
}

/// A pipe: the read end ours (non-blocking), the write end blocking, as a
/// service expects of its stdout. Both close-on-exec: a supervisor gets
/// its write end as its stdout or stderr, nobody else gets either.
fn pipe() -> std::io::Result<(File, OwnedFd)> {
    let (r, w) = crate::sys::fs::pipe(false)?;
    nix::fcntl::fcntl(&r, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
    Ok((File::from(r), w))
}

/// A descriptor for writing to `fd` (our stdout or stderr) that never
/// blocks, without making `fd`'s own open file non-blocking — that one is
/// shared (with the shell of a terminal, with the container runtime), and
/// a program finding it non-blocking may fail with `EAGAIN`. A pipe or a
/// terminal is opened again through `/proc/self/fd` (a description of our
/// own); a regular file never blocks (the same one is used, `O_APPEND`
/// kept); anything else (a socket, no `/proc`) is made non-blocking itself.
fn writer(fd: BorrowedFd<'_>) -> std::io::Result<File> {
    let kind = nix::sys::stat::fstat(fd)?.st_mode & libc::S_IFMT;
    let own = File::from(fd.try_clone_to_owned()?);
    if kind == libc::S_IFREG || kind == libc::S_IFBLK {
        return Ok(own);
    }
    if kind == libc::S_IFIFO || kind == libc::S_IFCHR {
        use std::os::unix::fs::OpenOptionsExt;
        let reopened = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(format!("/proc/self/fd/{}", fd.as_raw_fd()));
        if let Ok(f) = reopened {
            return Ok(f);
        }
    }
    let flags = nix::fcntl::fcntl(&own, nix::fcntl::FcntlArg::F_GETFL)?;
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(&own, nix::fcntl::FcntlArg::F_SETFL(flags))?;
    Ok(own)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Mux writing to pipes whose read ends the test holds.
    fn mux(format: Format) -> (Mux, File, File) {
        let (out_r, out_w) = pipe().unwrap();
        let (err_r, err_w) = pipe().unwrap();
        for w in [&out_w, &err_w] {
            nix::fcntl::fcntl(w, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).unwrap();
        }
        (Mux::to(format, File::from(out_w), File::from(err_w)), out_r, err_r)
    }

    /// One round of the loop, every descriptor taken as ready.
    fn round(m: &mut Mux) {
        let tags: Vec<Tag> = m.fds().iter().map(|(_, _, t)| *t).collect();
        m.handle(&tags);
    }

    fn take(from: &mut File) -> String {
        let mut buf = vec![0; 1 << 20];
        let mut got = Vec::new();
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&got).into_owned()
    }

    fn reading(m: &Mux) -> usize {
        m.fds().iter().filter(|(_, _, t)| matches!(t, Tag::Pipe(_))).count()
    }

    #[test]
    fn whole_lines_then_the_rest_once_the_service_is_forgotten() {
        let (mut m, mut out, mut err) = mux(Format::Prefix);
        m.set_width(6);
        let Sinks { out: ro, err: re, .. } = m.sinks("web").unwrap();
        // The same pipes at every start.
        let Sinks { out: ro2, err: re2, .. } = m.sinks("web").unwrap();
        assert!(Rc::ptr_eq(&ro, &ro2) && Rc::ptr_eq(&re, &re2));
        let mut o = File::from(ro.try_clone().unwrap());
        let mut e = File::from(re.try_clone().unwrap());
        o.write_all(b"GET / 200\nGET / 4").unwrap();
        e.write_all(b"oops\n").unwrap();
        round(&mut m);
        assert_eq!(take(&mut out), "web    | GET / 200\n");
        assert_eq!(take(&mut err), "web    | oops\n");
        o.write_all(b"04\nbye").unwrap();
        round(&mut m);
        assert_eq!(take(&mut out), "web    | GET / 404\n");
        // Forgotten, its last writer gone: the rest is a line, the pipes close.
        m.close("web");
        drop((o, e, ro, re, ro2, re2));
        // Until the end of the pipes is seen: another test of this binary
        // that forks (sys::hold's, sys::filter's) holds a copy of every
        // descriptor for a moment.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut rest = String::new();
        while reading(&m) > 0 && std::time::Instant::now() < deadline {
            round(&mut m);
            rest += &take(&mut out);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(rest, "web    | bye\n");
        assert_eq!(reading(&m), 0);
        m.say("immortalsvc: done");
        assert_eq!(take(&mut err), "immortalsvc: done\n");
    }

    /// The prefixes are as wide as the longest name known: a service
    /// forgotten and its pipes read to their end, they narrow again.
    #[test]
    fn the_prefix_narrows_once_a_long_named_service_s_pipes_are_gone() {
        let (mut m, mut out, _err) = mux(Format::Prefix);
        m.set_width(0);
        let db = m.sinks("db").unwrap();
        let long = m.sinks("longname").unwrap();
        m.close("longname");
        drop(long);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while reading(&m) > 3 && std::time::Instant::now() < deadline {
            round(&mut m);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(reading(&m), 3, "db's three pipes");
        File::from(db.out.try_clone().unwrap()).write_all(b"ready\n").unwrap();
        round(&mut m);
        assert_eq!(take(&mut out), "db | ready\n");
    }

    #[test]
    fn a_supervisor_s_message_is_a_line_apart_from_its_service_s() {
        let (mut m, _out, mut err) = mux(Format::Prefix);
        m.set_width(3);
        let sinks = m.sinks("web").unwrap();
        let mut e = File::from(sinks.err.try_clone().unwrap());
        let mut n = File::from(sinks.notices.try_clone().unwrap());
        e.write_all(b"begun").unwrap();
        round(&mut m);
        n.write_all(b"immortal: web: usr1 by uid 0\n").unwrap();
        round(&mut m);
        e.write_all(b" and done\n").unwrap();
        round(&mut m);
        assert_eq!(
            take(&mut err),
            "web | immortal: web: usr1 by uid 0\nweb | begun and done\n"
        );
    }

    #[test]
    fn a_full_queue_stops_the_reading_until_the_reader_takes_more() {
        let (mut m, mut out, _err) = mux(Format::Plain);
        let Sinks { out: o, .. } = m.sinks("web").unwrap();
        let o = File::from(o.try_clone().unwrap());
        nix::fcntl::fcntl(&o, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).unwrap();
        let line = [b'x'; 999];
        let mut written = 0usize;
        // Nobody reads `out`: the service's writes end up refused, and its
        // pipe is not read any more.
        let mut held = false;
        for _ in 0..2_000 {
            let mut progress = false;
            for _ in 0..64 {
                match (&o).write(&line).and_then(|_| (&o).write(b"\n")) {
                    Ok(_) => {
                        written += 1;
                        progress = true;
                    }
                    Err(_) => break,
                }
            }
            round(&mut m);
            if !progress && reading(&m) == 2 {
                held = true; // only the pipes to stderr are read
                break;
            }
        }
        assert!(held, "never held back ({written} lines written)");
        assert!(m.outs[0].waiting() >= QUEUE_MAX);
        assert_eq!(reading(&m), 2);
        // The reader takes it all: every line, whole, once.
        let mut got = String::new();
        while got.lines().count() < written {
            got.push_str(&take(&mut out));
            round(&mut m);
        }
        assert_eq!(got.lines().count(), written);
        assert!(got.lines().all(|l| l.len() == 999));
        assert_eq!(reading(&m), 3);
    }

    #[test]
    fn a_stdout_gone_drops_its_lines_and_says_so_once() {
        let (mut m, out, mut err) = mux(Format::Prefix);
        m.set_width(3);
        let Sinks { out: o, err: e, .. } = m.sinks("web").unwrap();
        let mut o = File::from(o.try_clone().unwrap());
        let mut e = File::from(e.try_clone().unwrap());
        drop(out);
        for _ in 0..3 {
            o.write_all(b"lost\n").unwrap();
            e.write_all(b"kept\n").unwrap();
            round(&mut m);
        }
        let said = take(&mut err);
        assert_eq!(
            said.matches("immortalsvc: unable to write to stdout: Broken pipe (os error 32)")
                .count(),
            1,
            "{said}"
        );
        assert_eq!(said.matches("web | kept\n").count(), 3, "{said}");
        assert_eq!(m.counts.dropped, 2);
        assert_eq!(m.counts.lines, 6);
    }
}
