//! The library seen from outside: streams, paging, retries, keyset, OAuth and hostile servers,
//! against the in-process emulator or a scripted server (wiremock). One test binary, so the
//! crate is linked once; each module is one concern.

#[path = "../common/mod.rs"]
mod common;

mod architecture;
mod concurrency;
mod emulated;
mod hostile;
mod key_order;
mod key_range;
mod keyset;
mod library_incremental;
mod library_incremental_hostile;
mod oauth;
mod object_output;
mod paging;
mod parallel_keyset;
mod progress;
mod raw_row;
mod record_batches;
mod reorder_window;
mod retry;
mod stream_contract;
mod summary_json;
mod token_answers;
