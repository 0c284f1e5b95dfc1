//! The `xp-export` command seen from outside: the built binary against the in-process emulator
//! or a scripted server. One test binary, so the crates are linked once; each module is one
//! concern.

#[path = "../../../tests/common/mod.rs"]
mod shared;

#[path = "../common/mod.rs"]
mod common;

mod another_api;
mod caps;
mod chaos;
mod closed_streams;
mod crash_after_rename;
mod export;
mod help;
mod hostile_cli;
mod hostile_output;
mod incremental;
mod incremental_careless;
mod json_logs;
mod lone_surrogates;
mod oauth;
mod object_store;
mod parallel_keyset;
mod parquet;
mod pretty;
mod report;
mod rerun;
mod shards;
mod side_files;
mod signals;
mod windows;
