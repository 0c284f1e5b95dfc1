//! The seeded, resumable record generator and the facts it draws from (error messages,
//! default campaigns).

use crate::emulator::data::record::Record;

/// Failure reasons, drawn for `error = 1` rows. The first ones come from the API docs; the
/// rest are there to trip up CSV writers and naive parsers.
pub const ERROR_MESSAGES: &[&str] = &[
    "Not personalized",
    "DEVICE_UNREGISTERED",
    "Application is Uninstalled",
    "Payload rejected: \"title\" is too long, max 64",
    "Delivery failed\nAPNs said: BadDeviceToken",
    "Échec d'envoi à l'appareil — 送信に失敗しました 📵",
    "=HYPERLINK(\"http://example.invalid\",\"click\")",
    "-1 retries left",
    "@quota exceeded for sender",
    "InvalidRegistration",
    "MismatchSenderId",
    "Tab\there and a back\\slash",
];

/// The campaigns the emulator's data set spreads its rows over unless told otherwise.
pub const DEFAULT_CAMPAIGNS: [u64; 4] = [245624, 245625, 245626, 245627];

/// Generates `n` records, deterministic for `seed` and `campaigns` (see [`Generator`]).
#[cfg(test)]
pub(crate) fn generate(n: usize, seed: u64, campaigns: &[u64]) -> Vec<Record> {
    let mut generator = Generator::new(seed, campaigns);
    let mut out = Vec::with_capacity(n);
    generator.extend(&mut out, n);
    out
}

/// The record generator, deterministic for a seed and campaign list.
///
/// An empty campaign list falls back to the default campaigns. The first error rows cycle
/// through [`ERROR_MESSAGES`] so that even a small data set has every tricky message.
///
/// It is resumable: generating `a` records and then `b` more gives the same
/// records as generating `a + b` at once. Inserted rows therefore continue the data set with
/// the same id gaps, time steps and field distributions.
#[derive(Debug, Clone)]
pub(crate) struct Generator {
    rng: fastrand::Rng,
    campaigns: Vec<u64>,
    /// The id and time of the next record before its gap is added (the first record gets
    /// no gap).
    action_id: u64,
    create_time: i64,
    started: bool,
    /// Error rows generated so far (the first ones cycle through [`ERROR_MESSAGES`]).
    errors: usize,
}

impl Generator {
    /// A generator at the start of the data set for `seed` and `campaigns`.
    pub(crate) fn new(seed: u64, campaigns: &[u64]) -> Generator {
        let campaigns = if campaigns.is_empty() {
            DEFAULT_CAMPAIGNS.to_vec()
        } else {
            campaigns.to_vec()
        };
        let mut rng = fastrand::Rng::with_seed(seed);
        let action_id = 1_000_000 + rng.u64(0..1_000);
        let create_time = 1_480_000_000 + rng.i64(0..86_400);
        Generator {
            rng,
            campaigns,
            action_id,
            create_time,
            started: false,
            errors: 0,
        }
    }

    /// Appends the next `n` records to `out`.
    pub(crate) fn extend(&mut self, out: &mut Vec<Record>, n: usize) {
        out.reserve(n);
        for _ in 0..n {
            out.push(self.next_record());
        }
    }

    /// The next record: its `action_id` is above, its `create_time` not below, those of
    /// every record generated before.
    fn next_record(&mut self) -> Record {
        let rng = &mut self.rng;
        if self.started {
            // Mostly small gaps, sometimes a large one (actions of other models in between).
            self.action_id += if rng.u8(0..50) == 0 {
                rng.u64(100..5_000)
            } else {
                rng.u64(1..8)
            };
            self.create_time += if rng.u8(0..100) == 0 {
                rng.i64(60..7_200)
            } else {
                rng.i64(0..3)
            };
        }
        self.started = true;
        let campaign_id = self.campaigns[rng.usize(0..self.campaigns.len())];
        let device_id = rng.u64(1_000_000..40_000_000);
        let profile_id = if rng.u8(0..10) < 7 {
            Some(hex_id(rng.u32(..), rng.u64(..)))
        } else {
            None
        };
        let error = u8::from(rng.u8(0..10) == 0);
        let error_message = if error == 1 {
            let msg = if self.errors < ERROR_MESSAGES.len() {
                ERROR_MESSAGES[self.errors]
            } else {
                ERROR_MESSAGES[rng.usize(0..ERROR_MESSAGES.len())]
            };
            self.errors += 1;
            Some(msg.to_owned())
        } else {
            None
        };
        let delivery = u8::from(error == 0 && rng.u8(0..100) < 92);
        let open = u8::from(delivery == 1 && rng.u8(0..100) < 30);
        let click = u8::from(open == 1 && rng.u8(0..100) < 25);
        let platform = match rng.u8(0..20) {
            0..=9 => "android",
            10..=16 => "ios",
            _ => "web",
        };
        Record {
            action_id: self.action_id,
            campaign_id,
            create_time: self.create_time,
            device_id,
            profile_id,
            error,
            error_message,
            delivery,
            open,
            click,
            platform: platform.to_owned(),
        }
    }
}

/// A 24-digit lowercase hex id (like a MongoDB ObjectId), without `format!` overhead.
fn hex_id(hi: u32, lo: u64) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(24);
    for shift in (0..8).rev() {
        s.push(char::from(DIGITS[((hi >> (shift * 4)) & 0xf) as usize]));
    }
    for shift in (0..16).rev() {
        s.push(char::from(DIGITS[((lo >> (shift * 4)) & 0xf) as usize]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_for_a_seed() {
        let a = generate(2_000, 7, &DEFAULT_CAMPAIGNS);
        let b = generate(2_000, 7, &DEFAULT_CAMPAIGNS);
        let c = generate(2_000, 8, &DEFAULT_CAMPAIGNS);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn invariants_hold() {
        let rs = generate(20_000, 3, &[1, 2]);
        assert_eq!(rs.len(), 20_000);
        assert!(rs[0].action_id >= 1_000_000 && rs[0].action_id < 1_001_000);
        assert!(rs[0].create_time >= 1_480_000_000);
        for w in rs.windows(2) {
            assert!(w[0].action_id < w[1].action_id);
            assert!(w[0].create_time <= w[1].create_time);
        }
        let errors = rs.iter().filter(|r| r.error == 1).count();
        assert!((1_500..2_500).contains(&errors), "{errors}");
        for r in &rs {
            assert!([1, 2].contains(&r.campaign_id));
            assert_eq!(r.error == 1, r.error_message.is_some());
            assert!(r.click <= r.open && r.open <= r.delivery);
            assert!(["android", "ios", "web"].contains(&r.platform.as_str()));
        }
        for m in ERROR_MESSAGES {
            assert!(rs.iter().any(|r| r.error_message.as_deref() == Some(*m)));
        }
        assert!(rs.iter().any(|r| r.profile_id.is_none()));
    }

    #[test]
    fn generator_resumes_where_it_stopped() {
        for campaigns in [&DEFAULT_CAMPAIGNS[..], &[7, 8], &[]] {
            let whole = generate(3_000, 5, campaigns);
            let mut g = Generator::new(5, campaigns);
            let mut parts = Vec::new();
            for n in [0, 1, 999, 0, 7, 1_993] {
                g.extend(&mut parts, n);
            }
            assert_eq!(parts, whole);
        }
    }

    #[test]
    fn hex_id_matches_format() {
        for (hi, lo) in [
            (0, 0),
            (1, 2),
            (u32::MAX, u64::MAX),
            (0xdead_beef, 0x0123_4567_89ab_cdef),
        ] {
            assert_eq!(hex_id(hi, lo), format!("{hi:08x}{lo:016x}"));
        }
    }
}
