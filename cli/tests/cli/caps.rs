//! Whatever the server caps a page at — 1 and 2 rows included — every row comes exactly once:
//! never a silent success over lost rows. A property test over rows × page size × cap ×
//! concurrency × seam check × mode, against the emulator.

use crate::common;

use futures::TryStreamExt;
use proptest::prelude::*;
use xp_export::RawRow;
use xp_export::emulator::{Config, Emulator};
use xp_export::query::Mode;

#[derive(Debug, Clone)]
struct Case {
    rows: usize,
    page_size: u64,
    cap: Option<usize>,
    concurrency: usize,
    seam_check: bool,
    mode: Mode,
}

fn cases() -> impl Strategy<Value = Case> {
    (
        0usize..160,
        1u64..40,
        // Caps of 1 to 3 rows are the hard ones: weight them.
        prop_oneof![
            1 => Just(None),
            2 => (1usize..=3).prop_map(Some),
            2 => (1usize..45).prop_map(Some),
        ],
        1usize..5,
        any::<bool>(),
        prop_oneof![Just(Mode::Offset), Just(Mode::Keyset)],
    )
        .prop_map(
            |(rows, page_size, cap, concurrency, seam_check, mode)| Case {
                rows,
                page_size,
                cap,
                concurrency,
                seam_check,
                mode,
            },
        )
}

/// The `action_id`s the export delivers, in order, or the error it ends with.
async fn export(emu: &Emulator, case: &Case) -> Result<Vec<u64>, xp_export::Error> {
    let client = common::emulator_client(emu);
    let rows: Vec<RawRow> = client
        .push_actions()
        .page_size(case.page_size)
        .concurrency(case.concurrency)
        .seam_check(case.seam_check)
        .mode(case.mode)
        .raw_stream()
        .try_collect()
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            r.parse::<serde_json::Value>().unwrap()["action_id"]
                .as_u64()
                .unwrap()
        })
        .collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn every_row_once_whatever_the_cap(case in cases()) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut config = Config::default().records(case.rows);
            if let Some(cap) = case.cap {
                config = config.max_limit(cap);
            }
            let emu = Emulator::start(config).await.unwrap();
            let mut expected: Vec<u64> = emu.records().iter().map(|r| r.action_id).collect();
            if case.mode == Mode::Offset {
                // Offset pages come newest first.
                expected.reverse();
            }
            // No fault is injected: a cap alone is no reason to fail.
            let got = export(&emu, &case).await;
            prop_assert!(got.is_ok(), "{:?}: {:?}", case, got.as_ref().err());
            prop_assert_eq!(got.unwrap_or_default(), expected, "{:?}", case);
            Ok(())
        })?;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_exports_every_row_from_a_server_that_caps_pages_at_one_row() {
    let emu = Emulator::start(Config::default().records(300).max_limit(1))
        .await
        .unwrap();
    let out = tokio::task::spawn_blocking(move || {
        let out = common::cmd(&emu)
            .args(["export", "-o", "-"])
            .output()
            .unwrap();
        (out, emu)
    })
    .await
    .unwrap();
    let (out, emu) = out;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let mut expected: Vec<u64> = emu.records().iter().map(|r| r.action_id).collect();
    expected.reverse();
    assert_eq!(
        common::ndjson_ids(&out.stdout),
        expected,
        "all 300 rows, once each"
    );
    assert!(
        stderr.contains("caps pages at 1 row"),
        "the report says so: {stderr}"
    );
}
