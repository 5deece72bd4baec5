//! What the ack tracker costs at its default cap (docs/observability.md): a test binary of its
//! own, so the resident memory it measures is the tracker's and no other test's.

use std::time::Duration;

use pushgate_proxy::receipts::{AckResult, Family, ReceiptSettings, Receipts};

/// The figure docs/observability.md gives for 1,000,000 ids.
const DOCUMENTED_MIB: f64 = 72.0;

fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib * 1024
}

#[test]
fn a_million_ids_fit_the_documented_memory_and_the_oldest_go_first() {
    let settings = ReceiptSettings {
        max_entries: 1_000_000,
        max_age: Duration::from_secs(3600),
    };
    let receipts = Receipts::new(settings);
    let before = resident_bytes();
    // Mattermost's ack ids are 26 characters.
    let id = |i: usize| format!("{i:026}");
    for i in 0..1_000_000 {
        receipts.sent(&id(i), Family::APPLE, "message", 1);
    }
    let grown = resident_bytes().saturating_sub(before) as f64 / (1024.0 * 1024.0);
    println!("1,000,000 ack ids: {grown:.1} MiB resident");
    // Past the cap: each new id evicts the oldest, and memory does not grow.
    for i in 1_000_000..1_250_000 {
        receipts.sent(&id(i), Family::APPLE, "message", 1);
    }
    let after_more = resident_bytes().saturating_sub(before) as f64 / (1024.0 * 1024.0);
    println!("after 250,000 more: {after_more:.1} MiB resident");
    assert!(
        grown <= DOCUMENTED_MIB && after_more <= DOCUMENTED_MIB,
        "{grown:.1} / {after_more:.1} MiB, documented {DOCUMENTED_MIB} MiB"
    );
    assert_eq!(
        receipts.acked(&id(0)),
        AckResult::Unknown,
        "the oldest went"
    );
    assert_eq!(receipts.acked(&id(249_999)), AckResult::Unknown);
    assert_eq!(
        receipts.acked(&id(250_000)),
        AckResult::Matched,
        "the rest stay"
    );
    assert_eq!(receipts.acked(&id(1_249_999)), AckResult::Matched);
    let hour = &receipts.last_hour()[0];
    assert_eq!((hour.sent, hour.acked), (1_250_000, 2));
}
