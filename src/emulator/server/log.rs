//! The request log: one entry per request, in arrival order, filled in as the request is
//! read and answered.

use std::sync::Mutex;

use crate::emulator::faults::Fault;
use crate::emulator::lock::lock;

/// One request as the emulator saw it.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    /// `offset` from the body, when the body was a JSON object with a valid one.
    pub offset: Option<u64>,
    /// `limit` from the body, when the body was a JSON object with a valid one.
    pub limit: Option<u64>,
    /// The fault applied, if any.
    pub fault: Option<Fault>,
    /// HTTP status answered; 0 for [`Fault::Reset`] and while the request is in flight.
    pub status: u16,
    /// Rows in the answered page (0 for errors and faults other than truncate/stall).
    pub rows: usize,
}

/// The log of a running emulator.
#[derive(Debug, Default)]
pub(crate) struct RequestLog(Mutex<Vec<LoggedRequest>>);

impl RequestLog {
    /// How many requests arrived so far.
    pub(crate) fn len(&self) -> usize {
        lock(&self.0).len()
    }

    /// A copy of every entry.
    pub(crate) fn entries(&self) -> Vec<LoggedRequest> {
        lock(&self.0).clone()
    }

    /// Records an arriving request; returns its log index.
    pub(crate) fn arrive(&self, fault: Option<Fault>) -> usize {
        let mut log = lock(&self.0);
        log.push(LoggedRequest {
            offset: None,
            limit: None,
            fault,
            status: 0,
            rows: 0,
        });
        log.len() - 1
    }

    /// Changes the entry at `index`.
    pub(crate) fn update(&self, index: usize, f: impl FnOnce(&mut LoggedRequest)) {
        if let Some(entry) = lock(&self.0).get_mut(index) {
            f(entry);
        }
    }
}
