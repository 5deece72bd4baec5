//! Delivery receipts: how long pushes take to reach their devices, and what share of them do.
//!
//! pushgate sees both ends of a push: the OK it answered for a push with an ack id, and the
//! ack that comes back (MPNS `/api/v1/ack`, `SendAck`) when the phone got it. This remembers
//! the send time of each such push; when its ack comes it observes
//! `pushgate_push_to_ack_seconds`. For the last hour it keeps, per platform, the pushes sent
//! and acked and the push-to-ack times: `pushgate_acked_ratio` and `DeliveryStats` read them.
//!
//! Memory is bounded twice: at most `max_entries` ids, the oldest evicted first, and none kept
//! past `max_age`. An id is kept as a keyed 64-bit hash, not as its text: 24 bytes a table slot
//! instead of about 80, and at 1,000,000 ids two of them share a hash with a chance of about
//! 3 in 100 million (the birthday bound). docs/observability.md has the measured cost.
//!
//! An acked id stays until it is evicted, so a second ack for it is told apart (`duplicate`).
//! An ack for an id older than `max_age` that is still here is `expired`; one whose id is gone,
//! or was never sent OK, is `unknown`: once evicted the two cannot be told apart.

use std::{
    collections::{hash_map::RandomState, HashMap, VecDeque},
    hash::{BuildHasher, BuildHasherDefault, Hasher},
    sync::Mutex,
    time::{Duration, Instant},
};

use prometheus::{
    core::{Collector, Desc},
    proto::MetricFamily,
    GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts,
};

pub use crate::config::ReceiptSettings;
pub use crate::outcome::Family;

/// The bounds of `pushgate_push_to_ack_seconds`, 0.1 s to 1 h.
pub const BUCKETS: [f64; 14] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

/// The `type` label of a tracked push: Mattermost's push types, then the `Send` kinds.
const TYPES: [&str; 10] = [
    "",
    "message",
    "clear",
    "update_badge",
    "session",
    "test",
    "other",
    "alert",
    "background",
    "voip",
];
const OTHER_TYPE: u8 = 6;

/// The window of `pushgate_acked_ratio` and `DeliveryStats`, in one-minute slots.
const WINDOW_MINUTES: u64 = 60;
pub const WINDOW: Duration = Duration::from_secs(WINDOW_MINUTES * 60);

/// What an ack came to; the `result` label of `pushgate_acks_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckResult {
    /// The first ack of a push that was sent OK: its push-to-ack time is observed.
    Matched,
    /// An ack for a push already acked (as often as it was sent).
    Duplicate,
    /// An ack for a push older than `max_age`.
    Expired,
    /// An id never sent OK here, or forgotten (evicted, or the process restarted).
    Unknown,
}

impl AckResult {
    fn label(self) -> &'static str {
        match self {
            AckResult::Matched => "matched",
            AckResult::Duplicate => "duplicate",
            AckResult::Expired => "expired",
            AckResult::Unknown => "unknown",
        }
    }
}

/// One platform's last hour.
#[derive(Debug, Clone, PartialEq)]
pub struct LastHour {
    pub family: Family,
    /// OK pushes with an ack id sent in the last hour.
    pub sent: u64,
    /// How many of those have been acked.
    pub acked: u64,
    /// The median time from OK to ack of the acks of the last hour, estimated from the
    /// histogram buckets as Prometheus's `histogram_quantile` does; `None` without acks.
    pub median: Option<Duration>,
}

impl LastHour {
    /// Acked over sent; `None` when nothing was sent.
    pub fn ratio(&self) -> Option<f64> {
        (self.sent > 0).then(|| self.acked as f64 / self.sent as f64)
    }
}

pub struct Receipts {
    settings: ReceiptSettings,
    /// Keys the id hashes, per process, so no caller can choose ids that collide.
    keys: RandomState,
    /// Time zero of the stored send times.
    epoch: Instant,
    state: Mutex<State>,
    metrics: ReceiptMetrics,
}

struct State {
    /// Id hash → its push. The hashes are already random, so the table hashes them no further.
    sent: HashMap<u64, Sent, BuildHasherDefault<Passthrough>>,
    /// The ids in the order they were first sent: the next to evict is at the front.
    order: VecDeque<u64>,
    /// Per family, the last hour: Apple's and Android's from the start, others as they come.
    hours: Vec<(Family, Hour)>,
}

impl Default for State {
    fn default() -> Self {
        State {
            sent: HashMap::default(),
            order: VecDeque::new(),
            hours: vec![
                (Family::APPLE, Hour::default()),
                (Family::ANDROID, Hour::default()),
            ],
        }
    }
}

impl State {
    /// The index of `family` in `hours`, added when new.
    fn family_index(&mut self, family: Family) -> usize {
        match self.hours.iter().position(|(f, _)| *f == family) {
            Some(i) => i,
            None => {
                self.hours.push((family, Hour::default()));
                self.hours.len() - 1
            }
        }
    }
}

/// A push sent OK with an ack id, waiting for its acks.
#[derive(Debug, Clone, Copy)]
struct Sent {
    /// Milliseconds since `epoch` when it was first sent.
    at_ms: u64,
    /// Pushes sent with this id (a `Send` to many tokens shares one) and acks matched so far.
    pushes: u16,
    acked: u16,
    family: u8,
    r#type: u8,
}

impl Receipts {
    pub fn new(settings: ReceiptSettings) -> Self {
        Receipts {
            settings,
            keys: RandomState::new(),
            epoch: Instant::now(),
            state: Mutex::default(),
            metrics: ReceiptMetrics::new(),
        }
    }

    /// The metrics to register for `/metrics` (with [`AckedRatio`], which needs an `Arc`).
    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        let m = &self.metrics;
        vec![
            Box::new(m.push_to_ack.clone()),
            Box::new(m.acks.clone()),
            Box::new(m.entries.clone()),
            Box::new(m.evicted.clone()),
        ]
    }

    fn is_on(&self) -> bool {
        self.settings.max_entries > 0
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// `pushes` pushes with `ack_id` were sent OK by a target of `family`; `type_label` is the
    /// push's `type` label (an unknown one counts as `other`).
    pub fn sent(&self, ack_id: &str, family: Family, type_label: &str, pushes: usize) {
        if ack_id.is_empty() || pushes == 0 || !self.is_on() {
            return;
        }
        let key = self.keys.hash_one(ack_id);
        let now = self.now_ms();
        let pushes = u16::try_from(pushes).unwrap_or(u16::MAX);
        let mut state = self.lock();
        let state = &mut *state;
        let family_index = state.family_index(family);
        state.hours[family_index].1.at(now).sent += u64::from(pushes);
        match state.sent.get_mut(&key) {
            // The same id again (a retried send): more pushes to ack, timed from the first.
            Some(entry) => entry.pushes = entry.pushes.saturating_add(pushes),
            None => {
                state.sent.insert(
                    key,
                    Sent {
                        at_ms: now,
                        pushes,
                        acked: 0,
                        family: u8::try_from(family_index).unwrap_or(u8::MAX),
                        r#type: type_index(type_label),
                    },
                );
                state.order.push_back(key);
            }
        }
        self.evict(state, now);
        self.metrics.entries.set(state.sent.len() as i64);
    }

    /// Forgets the oldest ids past the cap, and any past the age limit.
    fn evict(&self, state: &mut State, now: u64) {
        let max_age = self.settings.max_age.as_millis() as u64;
        while let Some(&oldest) = state.order.front() {
            let too_many = state.order.len() > self.settings.max_entries;
            let too_old = state
                .sent
                .get(&oldest)
                .is_none_or(|e| now.saturating_sub(e.at_ms) > max_age);
            if !too_many && !too_old {
                break;
            }
            state.order.pop_front();
            state.sent.remove(&oldest);
            let cause = if too_many { "cap" } else { "age" };
            self.metrics.evicted.with_label_values(&[cause]).inc();
        }
    }

    /// An ack for `ack_id` arrived.
    pub fn acked(&self, ack_id: &str) -> AckResult {
        if !self.is_on() {
            return AckResult::Unknown;
        }
        let key = self.keys.hash_one(ack_id);
        let now = self.now_ms();
        let result = {
            let mut state = self.lock();
            let state = &mut *state;
            match state.sent.get_mut(&key) {
                None => AckResult::Unknown,
                Some(entry) if entry.acked >= entry.pushes => AckResult::Duplicate,
                Some(entry) => {
                    let took_ms = now.saturating_sub(entry.at_ms);
                    if took_ms > self.settings.max_age.as_millis() as u64 {
                        AckResult::Expired
                    } else {
                        entry.acked += 1;
                        let (family, at_ms, r#type) = (entry.family, entry.at_ms, entry.r#type);
                        let (family, hour) = &mut state.hours[usize::from(family)];
                        // Acked counts toward the minute the push was sent in, so the ratio is
                        // "of the pushes sent in the last hour, the share acked so far".
                        if let Some(minute) = hour.get(at_ms) {
                            minute.acked += 1;
                        }
                        let took = Duration::from_millis(took_ms);
                        hour.at(now).latency[bucket_of(took)] += 1;
                        self.metrics
                            .push_to_ack
                            .with_label_values(&[family.label(), TYPES[usize::from(r#type)]])
                            .observe(took.as_secs_f64());
                        AckResult::Matched
                    }
                }
            }
        };
        self.metrics.acks.with_label_values(&[result.label()]).inc();
        result
    }

    /// Each platform's last hour.
    pub fn last_hour(&self) -> Vec<LastHour> {
        let now = self.now_ms();
        let state = self.lock();
        state
            .hours
            .iter()
            .map(|(family, hour)| hour.summary(*family, now))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One platform's last hour, a slot a minute.
struct Hour {
    minutes: [Minute; WINDOW_MINUTES as usize],
}

impl Default for Hour {
    fn default() -> Self {
        Hour {
            minutes: [Minute::default(); WINDOW_MINUTES as usize],
        }
    }
}

#[derive(Default, Clone, Copy)]
struct Minute {
    /// Which minute since `epoch` this slot holds now.
    number: u64,
    sent: u64,
    acked: u64,
    /// Acks that arrived in this minute, by `BUCKETS` bucket (the last: over an hour).
    latency: [u64; BUCKETS.len() + 1],
}

impl Hour {
    /// The slot of the minute of `at_ms`, emptied when it held an older minute.
    fn at(&mut self, at_ms: u64) -> &mut Minute {
        let number = at_ms / 60_000;
        let slot = &mut self.minutes[(number % WINDOW_MINUTES) as usize];
        if slot.number != number {
            *slot = Minute {
                number,
                ..Minute::default()
            };
        }
        slot
    }

    /// The slot of the minute of `at_ms` if it is still in the window.
    fn get(&mut self, at_ms: u64) -> Option<&mut Minute> {
        let number = at_ms / 60_000;
        let slot = &mut self.minutes[(number % WINDOW_MINUTES) as usize];
        (slot.number == number).then_some(slot)
    }

    fn summary(&self, family: Family, now_ms: u64) -> LastHour {
        let current = now_ms / 60_000;
        let live = self
            .minutes
            .iter()
            .filter(|m| m.number + WINDOW_MINUTES > current && m.number <= current);
        let mut latency = [0u64; BUCKETS.len() + 1];
        let (mut sent, mut acked) = (0, 0);
        for minute in live {
            sent += minute.sent;
            acked += minute.acked;
            for (total, n) in latency.iter_mut().zip(minute.latency) {
                *total += n;
            }
        }
        LastHour {
            family,
            sent,
            acked,
            median: quantile(0.5, &latency),
        }
    }
}

/// The bucket index of `took` in `BUCKETS` (the last index: over the last bound).
fn bucket_of(took: Duration) -> usize {
    let secs = took.as_secs_f64();
    BUCKETS
        .iter()
        .position(|&bound| secs <= bound)
        .unwrap_or(BUCKETS.len())
}

/// The `q` quantile of bucket counts, interpolated linearly inside its bucket as Prometheus's
/// `histogram_quantile` does; in the open last bucket, its lower bound.
fn quantile(q: f64, counts: &[u64; BUCKETS.len() + 1]) -> Option<Duration> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut below = 0u64;
    for (i, &n) in counts.iter().enumerate() {
        if n > 0 && (below + n) as f64 >= rank {
            let Some(&upper) = BUCKETS.get(i) else {
                return Some(Duration::from_secs_f64(BUCKETS[BUCKETS.len() - 1]));
            };
            let lower = if i == 0 { 0.0 } else { BUCKETS[i - 1] };
            let within = (rank - below as f64) / n as f64;
            return Some(Duration::from_secs_f64(lower + (upper - lower) * within));
        }
        below += n;
    }
    None
}

fn type_index(label: &str) -> u8 {
    TYPES
        .iter()
        .position(|t| *t == label)
        .map_or(OTHER_TYPE, |i| i as u8)
}

/// A hasher for keys that are already keyed hashes: hashing them again would only cost time.
#[derive(Default)]
struct Passthrough(u64);

impl Hasher for Passthrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

struct ReceiptMetrics {
    push_to_ack: HistogramVec,
    acks: IntCounterVec,
    entries: IntGauge,
    evicted: IntCounterVec,
}

impl ReceiptMetrics {
    fn new() -> Self {
        let push_to_ack = HistogramVec::new(
            HistogramOpts::new(
                "pushgate_push_to_ack_seconds",
                "Time from pushgate's OK for a push with an ack id to the device's ack of it, by platform and push type.",
            )
            .buckets(BUCKETS.to_vec()),
            &["platform", "type"],
        )
        .expect("valid metric");
        let acks = IntCounterVec::new(
            Opts::new(
                "pushgate_acks_total",
                "Acks received, by what they matched: matched (first ack of a push sent OK), duplicate, expired (older than AckTrackingMaxAgeSec), unknown.",
            ),
            &["result"],
        )
        .expect("valid metric");
        let entries = IntGauge::new(
            "pushgate_ack_tracker_entries",
            "Ack ids remembered, waiting for their acks (at most AckTrackingMaxEntries).",
        )
        .expect("valid metric");
        let evicted = IntCounterVec::new(
            Opts::new(
                "pushgate_ack_tracker_evicted_total",
                "Ack ids forgotten, by cause: cap (AckTrackingMaxEntries) or age (AckTrackingMaxAgeSec).",
            ),
            &["cause"],
        )
        .expect("valid metric");
        ReceiptMetrics {
            push_to_ack,
            acks,
            entries,
            evicted,
        }
    }
}

/// `pushgate_acked_ratio`, worked out from the last hour when scraped.
pub struct AckedRatio {
    receipts: std::sync::Arc<Receipts>,
    gauge: GaugeVec,
}

impl AckedRatio {
    pub fn new(receipts: std::sync::Arc<Receipts>) -> Self {
        let gauge = GaugeVec::new(
            Opts::new(
                "pushgate_acked_ratio",
                "Of the pushes with an ack id sent OK in the last hour, the share acked so far, by platform (absent without such pushes).",
            ),
            &["platform"],
        )
        .expect("valid metric");
        AckedRatio { receipts, gauge }
    }
}

impl Collector for AckedRatio {
    fn desc(&self) -> Vec<&Desc> {
        self.gauge.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.gauge.reset();
        for hour in self.receipts.last_hour() {
            if let Some(ratio) = hour.ratio() {
                self.gauge
                    .with_label_values(&[hour.family.label()])
                    .set(ratio);
            }
        }
        self.gauge.collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipts(max_entries: usize, max_age: Duration) -> Receipts {
        Receipts::new(ReceiptSettings {
            max_entries,
            max_age,
        })
    }

    #[test]
    fn an_ack_matches_once_per_push_sent_with_its_id() {
        let r = receipts(10, Duration::from_secs(60));
        r.sent("a", Family::APPLE, "message", 1);
        r.sent("b", Family::ANDROID, "alert", 2);
        assert_eq!(r.acked("a"), AckResult::Matched);
        assert_eq!(r.acked("a"), AckResult::Duplicate);
        assert_eq!(r.acked("b"), AckResult::Matched);
        assert_eq!(r.acked("b"), AckResult::Matched);
        assert_eq!(r.acked("b"), AckResult::Duplicate);
        assert_eq!(r.acked("never"), AckResult::Unknown);
        let hours = r.last_hour();
        assert_eq!((hours[0].sent, hours[0].acked), (1, 1));
        assert_eq!((hours[1].sent, hours[1].acked), (2, 2));
        assert_eq!(hours[0].ratio(), Some(1.0));
    }

    #[test]
    fn the_cap_evicts_the_oldest_first() {
        let r = receipts(3, Duration::from_secs(60));
        for id in ["1", "2", "3", "4"] {
            r.sent(id, Family::APPLE, "message", 1);
        }
        assert_eq!(r.acked("1"), AckResult::Unknown);
        for id in ["2", "3", "4"] {
            assert_eq!(r.acked(id), AckResult::Matched, "{id}");
        }
        // Sent 4 in the last hour, 3 acked: the evicted one counts as sent, never acked.
        assert_eq!(r.last_hour()[0].ratio(), Some(0.75));
    }

    #[test]
    fn an_ack_after_the_age_limit_is_expired_and_old_ids_are_forgotten() {
        let r = receipts(10, Duration::from_millis(50));
        r.sent("old", Family::APPLE, "message", 1);
        std::thread::sleep(Duration::from_millis(80));
        assert_eq!(r.acked("old"), AckResult::Expired);
        r.sent("new", Family::APPLE, "message", 1);
        assert_eq!(r.acked("old"), AckResult::Unknown, "evicted by age");
        assert_eq!(r.acked("new"), AckResult::Matched);
    }

    #[test]
    fn off_remembers_nothing() {
        let r = receipts(0, Duration::from_secs(60));
        r.sent("a", Family::APPLE, "message", 1);
        assert_eq!(r.acked("a"), AckResult::Unknown);
        assert_eq!(r.last_hour()[0].sent, 0);
    }

    #[test]
    fn the_median_interpolates_inside_its_bucket() {
        let mut counts = [0u64; BUCKETS.len() + 1];
        assert_eq!(quantile(0.5, &counts), None);
        counts[bucket_of(Duration::from_millis(300))] = 4; // the 0.25..0.5 bucket
        let median = quantile(0.5, &counts).unwrap().as_secs_f64();
        assert!((median - 0.375).abs() < 1e-9, "{median}");
        counts[BUCKETS.len()] = 100; // over an hour
        assert_eq!(quantile(0.5, &counts), Some(Duration::from_secs(3600)));
    }

    #[test]
    fn minutes_leave_the_window_after_an_hour() {
        let mut hour = Hour::default();
        hour.at(0).sent = 5;
        assert_eq!(hour.summary(Family::APPLE, 59 * 60_000).sent, 5);
        assert_eq!(hour.summary(Family::APPLE, 60 * 60_000).sent, 0);
        hour.at(61 * 60_000).sent = 1; // reuses the slot of minute 1
        assert_eq!(hour.summary(Family::APPLE, 61 * 60_000).sent, 1);
    }
}
