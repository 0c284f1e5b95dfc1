//! What the library logs, and that no secret shows in it: in a test binary of its own, because
//! `tracing`'s per-thread subscriber misses events whose callsite another test thread, running
//! without one, registered first. Every test here sets its subscriber before it does anything.

#[path = "../common/mod.rs"]
mod common;

mod oauth;
mod retries;
