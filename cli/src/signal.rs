//! Ctrl-C and SIGTERM (what Kubernetes, systemd and Airflow send to stop a job) stop an export
//! the same way: the current write is finished, the checkpoint saved and the way to continue
//! said; the exit code tells them apart (130, 143). A second signal exits at once: the
//! checkpoint of the last saved page stands, as after `kill -9`.

use crate::console::say;
use crate::failure::Failure;

/// The signal that stopped a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT: Ctrl-C.
    Interrupt,
    /// SIGTERM.
    Terminate,
}

impl Signal {
    /// The shell's code for a process ended by this signal: 128 + its number.
    pub fn exit_code(self) -> u8 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "Ctrl-C",
            Signal::Terminate => "SIGTERM",
        }
    }
}

/// Ctrl-C and SIGTERM, listened for from the moment this is made: a signal that comes before
/// [`Signals::first`] is awaited is not lost, and no longer ends the process on the spot.
pub struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
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
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// Waits for the first Ctrl-C or SIGTERM; never returns when neither can be listened for.
    pub async fn first(self) -> Signal {
        #[cfg(unix)]
        {
            async fn recv(s: Option<tokio::signal::unix::Signal>) {
                if let Some(mut s) = s
                    && s.recv().await.is_some()
                {
                    return;
                }
                std::future::pending::<()>().await
            }
            tokio::select! {
                () = recv(self.interrupt) => Signal::Interrupt,
                () = recv(self.terminate) => Signal::Terminate,
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

/// After the first signal, while the export finishes its write: a second one exits at once.
pub fn exit_on_second() {
    let signals = Signals::listen();
    tokio::spawn(async move {
        let s = signals.first().await;
        let text = format!(
            "{} again: stopping at once; the checkpoint of the last saved page stands",
            s.name()
        );
        if crate::logging::is_json() {
            crate::logging::warning(&text);
        } else {
            say!("xp-export: {text}");
        }
        std::process::exit(i32::from(s.exit_code()));
    });
}

/// An export stopped by `signal`: its exit code, and which signal it was.
pub fn stopped_by(mut f: Failure, signal: Option<Signal>) -> Failure {
    if let (130, Some(s)) = (f.code, signal) {
        f.code = s.exit_code();
        f.message = format!("{} ({})", f.message, s.name());
    }
    f
}
