//! Ctrl-C, SIGTERM and SIGHUP (what a terminal, Kubernetes, systemd and Airflow send to stop a
//! job) stop an export the same way: the current write is finished, the checkpoint saved and
//! the way to continue said; the exit code tells them apart (130, 143, 129: 128 + the signal's
//! number, as a shell reports a process the signal ended). A second signal exits at once: the
//! checkpoint of the last saved page stands, as after `kill -9`.
//!
//! An export listens from before its first request ([`Stop::listen`]): the probes that come
//! before the rows (a shard's key range, a lookback's first row, an OAuth token) and the one
//! after them (the newest row's `create_time` for `--state`) are cut short by a signal like the
//! export itself ([`Stop::or_stopped`]), with nothing written and the state left as it was.

use std::future::Future;

use tokio::sync::watch;

use crate::console::say;
use crate::failure::Failure;

/// The signal that stopped a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT: Ctrl-C.
    Interrupt,
    /// SIGTERM.
    Terminate,
    /// SIGHUP: the terminal closed, or a supervisor's stop.
    Hangup,
}

impl Signal {
    /// The shell's code for a process ended by this signal: 128 + its number.
    pub fn exit_code(self) -> u8 {
        match self {
            Signal::Hangup => 129,
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }

    /// How messages name it.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "Ctrl-C",
            Signal::Terminate => "SIGTERM",
            Signal::Hangup => "SIGHUP",
        }
    }
}

/// Ctrl-C, SIGTERM and SIGHUP, listened for from the moment this is made: a signal that comes
/// before [`Signals::next`] is awaited is not lost, and no longer ends the process on the spot.
pub struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    hangup: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    /// Starts listening (inside the runtime).
    pub fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Signals {
                interrupt: signal(SignalKind::interrupt()).ok(),
                terminate: signal(SignalKind::terminate()).ok(),
                hangup: signal(SignalKind::hangup()).ok(),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// Waits for the next signal; never returns when none can be listened for.
    pub async fn next(&mut self) -> Signal {
        #[cfg(unix)]
        {
            async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
                if let Some(s) = s
                    && s.recv().await.is_some()
                {
                    return;
                }
                std::future::pending::<()>().await
            }
            tokio::select! {
                () = recv(&mut self.interrupt) => Signal::Interrupt,
                () = recv(&mut self.terminate) => Signal::Terminate,
                () = recv(&mut self.hangup) => Signal::Hangup,
            }
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
            Signal::Interrupt
        }
    }
}

/// The first stop signal of a command, listened for from [`Stop::listen`] to the end of the
/// process; after it, a second one exits at once.
#[derive(Clone)]
pub struct Stop {
    caught: watch::Receiver<Option<Signal>>,
}

impl Stop {
    /// Starts listening (inside the runtime), before the command's first request.
    pub fn listen() -> Self {
        let mut signals = Signals::listen();
        let (tx, caught) = watch::channel(None);
        tokio::spawn(async move {
            let first = signals.next().await;
            let _ = tx.send(Some(first));
            let again = signals.next().await;
            let text = format!(
                "{} again: stopping at once; the checkpoint of the last saved page stands",
                again.name()
            );
            if crate::logging::is_json() {
                crate::logging::warning(&text);
            } else {
                say!("xp-export: {text}");
            }
            std::process::exit(i32::from(again.exit_code()));
        });
        Stop { caught }
    }

    /// The signal caught so far, if any.
    pub fn caught(&self) -> Option<Signal> {
        *self.caught.borrow()
    }

    /// Waits for the first signal (at once when it came already).
    pub async fn signalled(&self) -> Signal {
        let mut caught = self.caught.clone();
        match caught.wait_for(Option::is_some).await {
            Ok(s) => s.unwrap_or(Signal::Interrupt),
            // The listener is gone: no signal will come.
            Err(_) => std::future::pending().await,
        }
    }

    /// `work` (a probe before or after the export), unless a signal comes first: then it is
    /// dropped, and the command fails with the signal's exit code, saying what it was
    /// `doing` and `kept` (what stays as it was).
    pub async fn or_stopped<T>(
        &self,
        doing: &str,
        kept: &str,
        work: impl Future<Output = Result<T, Failure>>,
    ) -> Result<T, Failure> {
        tokio::select! {
            biased;
            s = self.signalled() => Err(Failure {
                code: s.exit_code(),
                message: format!("stopped by {} while {doing}; {kept}", s.name()),
                ..Default::default()
            }),
            r = work => r,
        }
    }
}

/// An export stopped by `signal`: its exit code, and which signal it was.
pub fn stopped_by(mut f: Failure, signal: Option<Signal>) -> Failure {
    if let (130, Some(s)) = (f.code, signal) {
        f.code = s.exit_code();
        f.message = format!("{} ({})", f.message, s.name());
    }
    f
}
