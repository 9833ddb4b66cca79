//! The faults, at random moments: SNS answering 5xx for a burst of
//! requests, PutItem replies held back past the handlers' deadline (the
//! write applies, the sender sees a 503), and the relay and the pump killed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use livehook_testkit::{Fault, FaultKind, Moto};

use crate::process::Supervised;
use crate::senders::nonce;

/// SNS's content refusals, as the SDK names them.
const REFUSAL_CODES: [&str; 3] = [
    "InvalidParameter",
    "ParameterValueInvalid",
    "ValidationException",
];

/// What the chaos did.
#[derive(Debug, Default, Clone)]
pub struct Done {
    /// The deliveries whose message SNS was set to refuse.
    pub refused: Vec<usize>,
    pub sns_bursts: usize,
    pub sns_failed_requests: usize,
    pub held_puts: usize,
    pub relay_kills: usize,
    pub pump_kills: usize,
}

/// The faults' targets and limits.
pub struct Chaos<'a> {
    pub moto: &'a Moto,
    pub table: String,
    pub topic_arn: String,
    pub relay: &'a Supervised,
    pub pump: &'a Supervised,
    /// Each pump kill is followed by a restart: at most this many.
    pub max_pump_kills: usize,
    /// Mean pause between two faults.
    pub mean_pause: Duration,
    /// Content refusals, when the run can account for them.
    pub refusals: Option<Refusals>,
}

/// Where content refusals are aimed: a delivery not sent yet.
pub struct Refusals {
    /// Deliveries whose first attempt has begun.
    pub started: Arc<AtomicUsize>,
    /// Deliveries in the run.
    pub deliveries: usize,
}

impl Chaos<'_> {
    /// Injects faults until `stop` is set; then clears the held replies
    /// still pending.
    pub async fn run(&self, rng: &mut fastrand::Rng, stop: Arc<AtomicBool>) -> Done {
        let mut done = Done::default();
        while !stop.load(Ordering::SeqCst) {
            let pause = self.mean_pause.mul_f64(rng.f64() * 2.0);
            tokio::time::sleep(pause).await;
            if stop.load(Ordering::SeqCst) {
                break;
            }
            match rng.u32(0..12) {
                10 | 11 => {
                    let Some(refusals) = &self.refusals else {
                        continue;
                    };
                    let n = refusals.started.load(Ordering::SeqCst) + rng.usize(5..60);
                    if n >= refusals.deliveries || done.refused.contains(&n) {
                        continue;
                    }
                    // Leaked: a few dozen short texts for the life of the run.
                    let matching: &'static str = nonce(n).leak();
                    self.moto.inject(&Fault {
                        service: "sns",
                        target: self.topic_arn.clone(),
                        operation: None,
                        // Every time, as SNS refuses a message for what it
                        // is (a single use was spent on a whole batch's
                        // refusal, and the message, re-sent alone, passed).
                        count: u32::MAX,
                        kind: FaultKind::Refuse {
                            code: REFUSAL_CODES[rng.usize(0..REFUSAL_CODES.len())],
                            matching: Some(matching),
                            entries: rng.bool(),
                        },
                    });
                    done.refused.push(n);
                }
                0..=2 => {
                    // A few calls' worth: the relay spends them between its
                    // kills (bursts larger than that left SNS down for minutes).
                    let count = rng.u32(2..=12);
                    let status = [500, 502, 503][rng.usize(0..3)];
                    self.moto.inject(&Fault {
                        service: "sns",
                        target: self.topic_arn.clone(),
                        operation: None,
                        count,
                        kind: FaultKind::Error { status },
                    });
                    done.sns_bursts += 1;
                    done.sns_failed_requests += count as usize;
                }
                3..=5 => {
                    // One held attempt: the SDK's retry meets its own write
                    // (a duplicate, 200); two: both attempts time out, 503.
                    let count = rng.u32(1..=2);
                    self.moto.inject(&Fault {
                        service: "dynamodb",
                        target: self.table.clone(),
                        operation: Some("PutItem"),
                        count,
                        kind: FaultKind::HoldReply {
                            seconds: 1.05 + rng.f64() * 0.8,
                        },
                    });
                    done.held_puts += count as usize;
                }
                6..=8 => {
                    self.relay.kill(random_pause(rng));
                    done.relay_kills += 1;
                }
                _ if done.pump_kills < self.max_pump_kills => {
                    self.pump.kill(random_pause(rng));
                    done.pump_kills += 1;
                }
                _ => {}
            }
        }
        // SNS's pending faults stay: each is spent by the relay as it
        // catches up (a refusal waits for its delivery's message).
        self.moto.clear_faults(&self.table);
        done
    }
}

/// How long a killed process stays down: up to 1.5 s.
fn random_pause(rng: &mut fastrand::Rng) -> Duration {
    Duration::from_millis(rng.u64(0..1500))
}
