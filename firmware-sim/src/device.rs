//! What each simulated device says and when, in scenario time: probes report their model's
//! reading every interval, a blast-chiller probe announces and ends its cooling batch, a
//! scanner reads a delivery, bump bars and call buttons are pressed at random while the
//! kitchen is busy. Pure state machines: `fire(now)` returns what to send and when to be
//! asked next; the fleet does the clock, the envelope (`msg_id`, `seq`, `ts`) and the MQTT.

use devices::{DoorState, EventBody, Key, Press, Reading};

use crate::barcode::ScanCode;
use crate::models::{Cabinet, CoolingCurve, HotWell, Rng, round_tenth};

/// One message body, before the fleet adds the envelope.
#[derive(Debug, Clone, PartialEq)]
pub enum Utterance {
    Telemetry {
        readings: Vec<Reading>,
        door: Option<DoorState>,
    },
    Event(EventBody),
}

/// Standard deviation of probe noise, °C.
const PROBE_NOISE: f64 = 0.05;

/// A cooling batch a blast-chiller probe will report.
#[derive(Debug, Clone)]
pub struct CoolingBatchPlan {
    pub batch: String,
    /// Scenario second the batch goes in (the cook presses "start").
    pub start: f64,
    pub curve: CoolingCurve,
    /// The cook stops tracking at this second even if the batch is not cold (it failed
    /// and is thrown away); otherwise tracking stops once the core is below `done_below`.
    pub give_up_at: Option<f64>,
    pub done_below: f64,
}

/// Where a blast-chiller probe is in its batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CoolingPhase {
    Waiting,
    Cooling,
    Done,
}

/// What a bump bar or call button can send, with how often each is pressed.
#[derive(Debug, Clone, Copy)]
pub enum Button {
    Key(Key),
    Call(Press),
}

/// Bump-bar keys as cooks use them: mostly bump, some paging.
pub const BUMP_BAR_KEYS: &[(Button, f64)] = &[
    (Button::Key(Key::Bump), 0.5),
    (Button::Key(Key::Next), 0.2),
    (Button::Key(Key::Previous), 0.1),
    (Button::Key(Key::Start), 0.1),
    (Button::Key(Key::Recall), 0.05),
    (Button::Key(Key::Serve), 0.05),
];

/// Call-button presses as guests use them.
pub const CALL_BUTTON_PRESSES: &[(Button, f64)] = &[
    (Button::Call(Press::Service), 0.7),
    (Button::Call(Press::Bill), 0.25),
    (Button::Call(Press::Cancel), 0.05),
];

/// How a device behaves over the scenario.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Fridge or freezer probe (`main`), with the door contact. `offset` fixes the first
    /// report (a load fleet spreads its devices evenly); otherwise it is random.
    Cabinet {
        model: Cabinet,
        interval: f64,
        offset: Option<f64>,
    },
    /// Hot-holding well, probe in the food (`food`).
    HotWell { model: HotWell, interval: f64 },
    /// Blast-chiller core probe (`core`): idle readings of the chiller air, then a batch.
    Cooling {
        plan: CoolingBatchPlan,
        /// Air temperature the idle probe reads.
        idle_celsius: f64,
        interval: f64,
        phase: CoolingPhase,
    },
    /// Scans at fixed scenario seconds.
    Scanner {
        scans: Vec<(f64, ScanCode)>,
        next: usize,
    },
    /// Presses at random while the kitchen is busy: a Poisson process in [from, until).
    Buttons {
        choices: &'static [(Button, f64)],
        mean_gap: f64,
        from: f64,
        until: f64,
    },
}

impl Behaviour {
    pub fn cooling(plan: CoolingBatchPlan, idle_celsius: f64, interval: f64) -> Self {
        Behaviour::Cooling {
            plan,
            idle_celsius,
            interval,
            phase: CoolingPhase::Waiting,
        }
    }

    pub fn scanner(mut scans: Vec<(f64, ScanCode)>) -> Self {
        scans.sort_by(|a, b| a.0.total_cmp(&b.0));
        Behaviour::Scanner { scans, next: 0 }
    }

    /// The scenario second of the first message: probes start at a random point of their
    /// interval so a fleet does not report in lockstep.
    pub fn first_due(&self, rng: &mut Rng) -> Option<f64> {
        match self {
            Behaviour::Cabinet {
                offset: Some(offset),
                ..
            } => Some(*offset),
            Behaviour::Cabinet { interval, .. }
            | Behaviour::HotWell { interval, .. }
            | Behaviour::Cooling { interval, .. } => Some(rng.unit() * interval),
            Behaviour::Scanner { scans, next } => scans.get(*next).map(|s| s.0),
            Behaviour::Buttons {
                mean_gap,
                from,
                until,
                ..
            } => Some(from + rng.exponential(*mean_gap)).filter(|t| t < until),
        }
    }

    /// Called at scenario second `now` (the due time it asked for): pushes what the device
    /// sends and returns when it wants to be called next, `None` when it has nothing more
    /// to say.
    pub fn fire(&mut self, now: f64, rng: &mut Rng, out: &mut Vec<Utterance>) -> Option<f64> {
        match self {
            Behaviour::Cabinet {
                model, interval, ..
            } => {
                model.advance(now, rng);
                out.push(Utterance::Telemetry {
                    readings: vec![reading(
                        "main",
                        model.probe_celsius() + rng.noise(PROBE_NOISE),
                    )],
                    door: Some(if model.door_open() {
                        DoorState::Open
                    } else {
                        DoorState::Closed
                    }),
                });
                Some(now + *interval)
            }
            Behaviour::HotWell { model, interval } => {
                model.advance(now);
                out.push(Utterance::Telemetry {
                    readings: vec![reading(
                        "food",
                        model.probe_celsius() + rng.noise(PROBE_NOISE),
                    )],
                    door: None,
                });
                Some(now + *interval)
            }
            Behaviour::Cooling {
                plan,
                idle_celsius,
                interval,
                phase,
            } => Some(fire_cooling(
                plan,
                *idle_celsius,
                *interval,
                phase,
                now,
                rng,
                out,
            )),
            Behaviour::Scanner { scans, next } => {
                if let Some((_, scan)) = scans.get(*next) {
                    out.push(Utterance::Event(EventBody::Scan {
                        code: scan.code.clone(),
                        symbology: Some(scan.symbology),
                    }));
                    *next += 1;
                }
                scans.get(*next).map(|s| s.0)
            }
            Behaviour::Buttons {
                choices,
                mean_gap,
                until,
                ..
            } => {
                let weights: Vec<f64> = choices.iter().map(|c| c.1).collect();
                let body = match choices[rng.weighted(&weights)].0 {
                    Button::Key(key) => EventBody::Key { key },
                    Button::Call(press) => EventBody::Button { press },
                };
                out.push(Utterance::Event(body));
                Some(now + rng.exponential(*mean_gap)).filter(|t| t < until)
            }
        }
    }
}

fn reading(probe: &str, celsius: f64) -> Reading {
    Reading {
        probe: probe.to_owned(),
        celsius: round_tenth(celsius),
    }
}

fn fire_cooling(
    plan: &CoolingBatchPlan,
    idle_celsius: f64,
    interval: f64,
    phase: &mut CoolingPhase,
    now: f64,
    rng: &mut Rng,
    out: &mut Vec<Utterance>,
) -> f64 {
    if *phase == CoolingPhase::Waiting && now >= plan.start {
        *phase = CoolingPhase::Cooling;
        out.push(Utterance::Event(EventBody::CoolingStart {
            probe: "core".into(),
            batch: plan.batch.clone(),
        }));
    }
    let celsius = match phase {
        CoolingPhase::Cooling => plan.curve.celsius_after(now - plan.start),
        CoolingPhase::Waiting | CoolingPhase::Done => idle_celsius,
    };
    out.push(Utterance::Telemetry {
        readings: vec![reading("core", celsius + rng.noise(PROBE_NOISE))],
        door: None,
    });
    if *phase == CoolingPhase::Cooling
        && (celsius < plan.done_below || plan.give_up_at.is_some_and(|t| now >= t))
    {
        *phase = CoolingPhase::Done;
        out.push(Utterance::Event(EventBody::CoolingStop {
            batch: plan.batch.clone(),
        }));
    }
    // The batch start is reported when the cook presses the button, not at the next tick.
    match phase {
        CoolingPhase::Waiting if plan.start < now + interval => plan.start,
        _ => now + interval,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{CabinetParams, DoorPattern};

    /// Runs a behaviour from its first due time to `until`, collecting (second, utterance).
    fn run(mut behaviour: Behaviour, until: f64, seed: u64) -> Vec<(f64, Utterance)> {
        let mut rng = Rng::new(seed);
        let mut out = Vec::new();
        let mut due = behaviour.first_due(&mut rng);
        while let Some(now) = due.filter(|t| *t < until) {
            let mut said = Vec::new();
            due = behaviour.fire(now, &mut rng, &mut said);
            assert!(due.is_none_or(|next| next > now), "time must move forward");
            out.extend(said.into_iter().map(|u| (now, u)));
        }
        out
    }

    fn celsius(u: &Utterance) -> Option<f64> {
        match u {
            Utterance::Telemetry { readings, .. } => readings.first().map(|r| r.celsius),
            Utterance::Event(_) => None,
        }
    }

    #[test]
    fn a_fridge_probe_reports_every_interval_with_its_door_state() {
        let mut rng = Rng::new(1);
        let model = Cabinet::new(
            CabinetParams::fridge(),
            DoorPattern::busy(120.0, 20.0),
            None,
            &mut rng,
        );
        let said = run(
            Behaviour::Cabinet {
                model,
                interval: 60.0,
                offset: None,
            },
            3600.0,
            1,
        );
        assert!((59..=60).contains(&said.len()), "{} reports", said.len());
        let gaps: Vec<f64> = said.windows(2).map(|w| w[1].0 - w[0].0).collect();
        assert!(gaps.iter().all(|g| (*g - 60.0).abs() < 1e-9));
        let doors: Vec<_> = said
            .iter()
            .filter_map(|(_, u)| match u {
                Utterance::Telemetry { door, .. } => *door,
                Utterance::Event(_) => None,
            })
            .collect();
        assert!(doors.contains(&DoorState::Open) && doors.contains(&DoorState::Closed));
        for (_, u) in &said {
            let c = celsius(u).unwrap();
            assert_eq!(c, round_tenth(c), "readings are in tenths");
        }
    }

    #[test]
    fn a_cooling_probe_starts_its_batch_on_time_and_stops_when_cold() {
        let plan = CoolingBatchPlan {
            batch: "rendang-1".into(),
            start: 1800.0,
            curve: CoolingCurve::blast_chiller(),
            give_up_at: None,
            done_below: 4.0,
        };
        let said = run(Behaviour::cooling(plan, -1.0, 60.0), 6.0 * 3600.0, 2);
        let start = said
            .iter()
            .position(|(_, u)| matches!(u, Utterance::Event(EventBody::CoolingStart { .. })))
            .expect("batch starts");
        assert_eq!(said[start].0, 1800.0);
        let first_hot = celsius(&said[start + 1].1).unwrap();
        assert!(first_hot > 70.0, "the batch goes in hot: {first_hot}");
        let stop = said
            .iter()
            .position(|(_, u)| matches!(u, Utterance::Event(EventBody::CoolingStop { .. })))
            .expect("batch stops");
        let last_core = celsius(&said[stop - 1].1).unwrap();
        assert!(last_core < 5.0, "stopped at {last_core}");
        let hours = (said[stop].0 - 1800.0) / 3600.0;
        assert!((2.0..3.5).contains(&hours), "cooling took {hours} h");
        // Readings during the batch only ever fall (beyond noise).
        let during: Vec<f64> = said[start + 1..stop]
            .iter()
            .filter_map(|(_, u)| celsius(u))
            .collect();
        assert!(during.windows(2).all(|w| w[1] <= w[0] + 0.3));
        // After the batch the probe reads the chiller air again.
        assert!(celsius(&said.last().unwrap().1).unwrap() < 0.0);
    }

    #[test]
    fn a_slow_batch_is_abandoned_warm_at_its_give_up_time() {
        let plan = CoolingBatchPlan {
            batch: "soto-1".into(),
            start: 0.0,
            curve: CoolingCurve::deep_pot_in_walk_in(),
            give_up_at: Some(2.25 * 3600.0),
            done_below: 4.0,
        };
        let said = run(Behaviour::cooling(plan, 3.0, 60.0), 4.0 * 3600.0, 3);
        let (at, _) = said
            .iter()
            .find(|(_, u)| matches!(u, Utterance::Event(EventBody::CoolingStop { .. })))
            .expect("the cook gives up");
        assert!((*at - 2.25 * 3600.0).abs() < 60.0);
        let warm = said
            .iter()
            .filter(|(t, _)| *t < *at)
            .filter_map(|(_, u)| celsius(u))
            .next_back()
            .unwrap();
        assert!(warm > 21.0, "still {warm} °C when abandoned");
    }

    #[test]
    fn a_scanner_reads_its_cases_in_order_then_falls_silent() {
        let scans = vec![
            (
                30.0,
                ScanCode {
                    code: "b".into(),
                    symbology: devices::Symbology::Ean13,
                },
            ),
            (
                10.0,
                ScanCode {
                    code: "a".into(),
                    symbology: devices::Symbology::Ean13,
                },
            ),
        ];
        let said = run(Behaviour::scanner(scans), 100.0, 4);
        let codes: Vec<(f64, String)> = said
            .into_iter()
            .map(|(t, u)| match u {
                Utterance::Event(EventBody::Scan { code, .. }) => (t, code),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(codes, [(10.0, "a".into()), (30.0, "b".into())]);
    }

    #[test]
    fn button_presses_stay_inside_the_busy_window_at_about_the_mean_rate() {
        let said = run(
            Behaviour::Buttons {
                choices: BUMP_BAR_KEYS,
                mean_gap: 60.0,
                from: 3600.0,
                until: 3.0 * 3600.0,
            },
            10.0 * 3600.0,
            5,
        );
        assert!(said.iter().all(|(t, _)| (3600.0..3.0 * 3600.0).contains(t)));
        assert!((90..=150).contains(&said.len()), "{} presses", said.len());
        let bumps = said
            .iter()
            .filter(|(_, u)| {
                matches!(
                    u,
                    Utterance::Event(EventBody::Key {
                        key: devices::Key::Bump
                    })
                )
            })
            .count();
        assert!(bumps * 4 > said.len(), "bump is the most common key");
    }
}
