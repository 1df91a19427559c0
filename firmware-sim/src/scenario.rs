//! Which devices a run simulates, how each is registered at the hub, and the evening's
//! story in scenario time: the `evening` food-safety story (healthy fridges with doors,
//! a fridge that fails, a hot-holding well that drifts, cooling batches, a delivery, bump
//! bars, call buttons) and the `load` fleet of identical fridge probes at a set rate.
//! Pure: builds plans from options; no clock, no network.

use std::fmt;

use chrono::{DateTime, Utc};
use devices::DeviceKind;
use serde_json::{Value, json};

use crate::barcode;
use crate::device::{BUMP_BAR_KEYS, Behaviour, CALL_BUTTON_PRESSES, CoolingBatchPlan, Utterance};
use crate::models::{Cabinet, CabinetParams, CoolingCurve, Degradation, DoorPattern, HotWell, Rng};

const MINUTE: f64 = 60.0;
const HOUR: f64 = 3600.0;
/// Probes in the evening story report once a simulated minute.
const PROBE_INTERVAL: f64 = 60.0;

/// The unit a probe watches, as the hub's `limits` field takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitSpec {
    pub unit: String,
    /// `cold_holding`, `freezer`, `hot_holding` or `blast_chiller`.
    pub profile: &'static str,
    pub min_celsius: Option<f64>,
    pub max_celsius: Option<f64>,
    pub critical_celsius: Option<f64>,
    pub alert_delay_minutes: u16,
    pub report_interval_seconds: u32,
}

impl UnitSpec {
    fn new(unit: &str, profile: &'static str, interval: f64) -> Self {
        let (min, max, critical) = match profile {
            "cold_holding" => (None, Some(5.0), Some(8.0)),
            "freezer" => (None, Some(-18.0), Some(-12.0)),
            "hot_holding" => (Some(60.0), None, Some(54.0)),
            _ => (None, None, None),
        };
        Self {
            unit: unit.to_owned(),
            profile,
            min_celsius: min,
            max_celsius: max,
            critical_celsius: critical,
            alert_delay_minutes: 15,
            report_interval_seconds: interval.ceil().max(1.0) as u32,
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "unit": self.unit,
            "profile": self.profile,
            "min_celsius": self.min_celsius,
            "max_celsius": self.max_celsius,
            "critical_celsius": self.critical_celsius,
            "alert_delay_minutes": self.alert_delay_minutes,
            "report_interval_seconds": self.report_interval_seconds,
        })
    }
}

/// What the hub needs besides key, name and kind to register a device.
#[derive(Debug, Clone, PartialEq)]
pub enum Pairing {
    Probe(UnitSpec),
    /// The station (by key, e.g. `grill`) whose screen the bar drives.
    BumpBar {
        station_key: String,
    },
    /// `receiving`, `counting`, `waste` or `pass`.
    Scanner {
        purpose: &'static str,
    },
    /// The table (by label, e.g. `7`) the button sits on.
    CallButton {
        table_label: String,
    },
}

/// One simulated device.
#[derive(Debug, Clone)]
pub struct DevicePlan {
    /// Device id on the wire; also the MQTT topic segment.
    pub key: String,
    pub name: String,
    pub kind: DeviceKind,
    pub pairing: Pairing,
    pub behaviour: Behaviour,
}

/// Something the story makes happen, for the operator to watch for on the hub's screens.
#[derive(Debug, Clone, PartialEq)]
pub struct Beat {
    /// Scenario second.
    pub at: f64,
    pub text: String,
}

impl fmt::Display for Beat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", clock(self.at), self.text)
    }
}

/// Scenario seconds as `h:mm`.
pub fn clock(seconds: f64) -> String {
    let minutes = (seconds / MINUTE).floor() as u64;
    format!("{}:{:02}", minutes / 60, minutes % 60)
}

/// Scenario seconds as `h:mm:ss`.
pub fn clock_seconds(seconds: f64) -> String {
    let whole = seconds.max(0.0).floor() as u64;
    format!("{}:{:02}:{:02}", whole / 3600, whole / 60 % 60, whole % 60)
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub devices: Vec<DevicePlan>,
    /// Scenario seconds after which the story is over; `None` runs until stopped.
    pub length: Option<f64>,
    pub story: Vec<Beat>,
}

/// Options of the evening story.
#[derive(Debug, Clone)]
pub struct EveningOptions {
    pub seed: u64,
    /// Add a second batch that cools too slowly and fails the 2-hour stage.
    pub slow_batch: bool,
    /// Wall-clock time of scenario second 0 (dates on the delivery's labels).
    pub start: DateTime<Utc>,
}

/// A kitchen evening, 6 hours of scenario time (at `--speed 60`, six minutes).
pub fn evening(options: &EveningOptions) -> Scenario {
    let mut rng = Rng::new(options.seed);
    let mut devices = Vec::new();
    let mut story = Vec::new();
    let delivery_at = 20.0 * MINUTE;

    let cold = |unit: &str| Pairing::Probe(UnitSpec::new(unit, "cold_holding", PROBE_INTERVAL));
    let cabinet = |params, doors, failure, rng: &mut Rng| Behaviour::Cabinet {
        model: Cabinet::new(params, doors, failure, rng),
        interval: PROBE_INTERVAL,
        offset: None,
    };

    let restock = (delivery_at + 5.0 * MINUTE, 4.5 * MINUTE);
    devices.push(DevicePlan {
        key: "fridge-walkin".into(),
        name: "Walk-in fridge probe".into(),
        kind: DeviceKind::Probe,
        pairing: cold("Walk-in fridge"),
        behaviour: cabinet(
            CabinetParams::fridge(),
            DoorPattern::busy(8.0 * MINUTE, 20.0).with_scripted(restock.0, restock.1),
            None,
            &mut rng,
        ),
    });
    story.push(Beat {
        at: restock.0,
        text: "walk-in door open 4.5 min for the restock: a bump above 5 °C shorter \
               than the 15-minute alert delay, so no alert"
            .into(),
    });
    devices.push(DevicePlan {
        key: "fridge-line".into(),
        name: "Grill line fridge probe".into(),
        kind: DeviceKind::Probe,
        pairing: cold("Grill line fridge"),
        behaviour: cabinet(
            CabinetParams::fridge(),
            DoorPattern::busy(3.0 * MINUTE, 12.0),
            None,
            &mut rng,
        ),
    });
    let failure = Degradation {
        start: HOUR,
        over: 2.5 * HOUR,
        floor: 0.08,
    };
    let bar_fridge = cabinet(
        CabinetParams::fridge(),
        DoorPattern::busy(10.0 * MINUTE, 10.0),
        Some(failure),
        &mut rng,
    );
    story.push(Beat {
        at: failure.start,
        text: "fridge-bar's compressor starts losing capacity".into(),
    });
    story.extend(crossings(
        &bar_fridge,
        "fridge-bar",
        &[5.0, 8.0],
        true,
        &rng,
    ));
    devices.push(DevicePlan {
        key: "fridge-bar".into(),
        name: "Bar fridge probe".into(),
        kind: DeviceKind::Probe,
        pairing: cold("Bar fridge"),
        behaviour: bar_fridge,
    });
    devices.push(DevicePlan {
        key: "freezer-1".into(),
        name: "Freezer probe".into(),
        kind: DeviceKind::Probe,
        pairing: Pairing::Probe(UnitSpec::new("Freezer", "freezer", PROBE_INTERVAL)),
        behaviour: cabinet(
            CabinetParams::freezer(),
            DoorPattern::busy(20.0 * MINUTE, 10.0),
            None,
            &mut rng,
        ),
    });
    let heater = Degradation {
        start: 2.5 * HOUR,
        over: HOUR,
        floor: 0.2,
    };
    let well = Behaviour::HotWell {
        model: HotWell::new(Some(heater), &mut rng),
        interval: PROBE_INTERVAL,
    };
    story.push(Beat {
        at: heater.start,
        text: "hotwell-1's heater starts failing".into(),
    });
    story.extend(crossings(&well, "hotwell-1", &[60.0, 54.0], false, &rng));
    devices.push(DevicePlan {
        key: "hotwell-1".into(),
        name: "Bain-marie probe".into(),
        kind: DeviceKind::Probe,
        pairing: Pairing::Probe(UnitSpec::new("Bain-marie", "hot_holding", PROBE_INTERVAL)),
        behaviour: well,
    });

    let date = options.start.format("%m%d");
    let rendang = CoolingBatchPlan {
        batch: format!("rendang-{date}"),
        start: 30.0 * MINUTE,
        curve: CoolingCurve::blast_chiller(),
        give_up_at: None,
        done_below: 4.0,
    };
    story.extend(cooling_story(&rendang, "blast-1"));
    devices.push(DevicePlan {
        key: "blast-1".into(),
        name: "Blast chiller core probe".into(),
        kind: DeviceKind::Probe,
        pairing: Pairing::Probe(UnitSpec::new(
            "Blast chiller",
            "blast_chiller",
            PROBE_INTERVAL,
        )),
        behaviour: Behaviour::cooling(rendang, -2.0, PROBE_INTERVAL),
    });
    if options.slow_batch {
        let soto = CoolingBatchPlan {
            batch: format!("soto-{date}"),
            start: HOUR,
            curve: CoolingCurve::deep_pot_in_walk_in(),
            give_up_at: Some(HOUR + 3.5 * HOUR),
            done_below: 4.0,
        };
        story.extend(cooling_story(&soto, "blast-2"));
        devices.push(DevicePlan {
            key: "blast-2".into(),
            name: "Walk-in cooling probe".into(),
            kind: DeviceKind::Probe,
            pairing: Pairing::Probe(UnitSpec::new(
                "Walk-in cooling shelf",
                "blast_chiller",
                PROBE_INTERVAL,
            )),
            behaviour: Behaviour::cooling(soto, 4.0, PROBE_INTERVAL),
        });
    }

    let cases = barcode::delivery(options.start.date_naive(), 8, &mut rng);
    let mut at = delivery_at;
    let scans = cases
        .into_iter()
        .map(|case| {
            at += rng.between(10.0, 30.0);
            (at, case)
        })
        .collect();
    story.push(Beat {
        at: delivery_at,
        text: "delivery at the dock: scanner-dock reads 8 cases (GS1-128 and EAN-13)".into(),
    });
    devices.push(DevicePlan {
        key: "scanner-dock".into(),
        name: "Receiving scanner".into(),
        kind: DeviceKind::Scanner,
        pairing: Pairing::Scanner {
            purpose: "receiving",
        },
        behaviour: Behaviour::scanner(scans),
    });

    for station in ["grill", "wok"] {
        devices.push(DevicePlan {
            key: format!("bump-{station}"),
            name: format!("{station} bump bar"),
            kind: DeviceKind::BumpBar,
            pairing: Pairing::BumpBar {
                station_key: station.into(),
            },
            behaviour: Behaviour::Buttons {
                choices: BUMP_BAR_KEYS,
                mean_gap: 90.0,
                from: 30.0 * MINUTE,
                until: 5.5 * HOUR,
            },
        });
    }
    for table in ["7", "12"] {
        devices.push(DevicePlan {
            key: format!("call-t{table}"),
            name: format!("Call button table {table}"),
            kind: DeviceKind::CallButton,
            pairing: Pairing::CallButton {
                table_label: table.into(),
            },
            behaviour: Behaviour::Buttons {
                choices: CALL_BUTTON_PRESSES,
                mean_gap: 20.0 * MINUTE,
                from: HOUR,
                until: 5.5 * HOUR,
            },
        });
    }
    story.push(Beat {
        at: 30.0 * MINUTE,
        text: "service starts: bump bars pressed every ~90 s, call buttons from 1:00".into(),
    });
    story.sort_by(|a, b| a.at.total_cmp(&b.at));
    Scenario {
        name: "evening".into(),
        devices,
        length: Some(6.0 * HOUR),
        story,
    }
}

/// When a probe's readings first cross each limit (upwards for `rising`), found by running
/// a copy of its model: the story tells the operator when to expect the alert.
fn crossings(
    behaviour: &Behaviour,
    key: &str,
    limits: &[f64],
    rising: bool,
    rng: &Rng,
) -> Vec<Beat> {
    let mut copy = behaviour.clone();
    let mut rng = rng.clone();
    let mut out = Vec::new();
    let mut pending: Vec<f64> = limits.to_vec();
    let mut said = Vec::new();
    let mut t = 0.0;
    while t < 6.0 * HOUR && !pending.is_empty() {
        said.clear();
        copy.fire(t, &mut rng, &mut said);
        if let Some(Utterance::Telemetry { readings, .. }) = said.first()
            && let Some(reading) = readings.first()
        {
            pending.retain(|limit| {
                let crossed = if rising {
                    reading.celsius > *limit
                } else {
                    reading.celsius < *limit
                };
                if crossed {
                    let side = if rising { "above" } else { "below" };
                    out.push(Beat {
                        at: t,
                        text: format!("{key} reads {side} {limit} °C (about)"),
                    });
                }
                !crossed
            });
        }
        t += PROBE_INTERVAL;
    }
    out
}

fn cooling_story(plan: &CoolingBatchPlan, key: &str) -> Vec<Beat> {
    let mut beats = vec![Beat {
        at: plan.start,
        text: format!(
            "{key}: batch {} goes in at {:.0} °C (cooling_start)",
            plan.batch, plan.curve.start_celsius
        ),
    }];
    let reach = |c: f64| plan.curve.seconds_to_reach(c).map(|s| plan.start + s);
    let end = plan.give_up_at.unwrap_or(f64::INFINITY);
    if let Some(start) = reach(57.0) {
        for (target, stage) in [(21.0, 2.0 * HOUR), (5.0, 6.0 * HOUR)] {
            match reach(target) {
                Some(at) if at <= start + stage && at <= end => beats.push(Beat {
                    at,
                    text: format!("{key}: {} reaches {target} °C in time", plan.batch),
                }),
                _ => {
                    beats.push(Beat {
                        at: start + stage,
                        text: format!(
                            "{key}: {} misses the {target} °C deadline (cooling failed)",
                            plan.batch
                        ),
                    });
                    break;
                }
            }
        }
    }
    if let Some(at) = plan.give_up_at {
        beats.push(Beat {
            at,
            text: format!("{key}: the cook discards {} (cooling_stop)", plan.batch),
        });
    }
    beats
}

/// Options of the load fleet.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub devices: usize,
    /// Messages per real second across the whole fleet.
    pub rate: f64,
    pub speed: f64,
    pub seed: u64,
    /// Key prefix, so several load fleets can share a venue.
    pub prefix: String,
}

/// Seconds of scenario time between two reports of one device so the fleet as a whole
/// sends `rate` messages per real second.
pub fn load_interval(devices: usize, rate: f64, speed: f64) -> f64 {
    devices.max(1) as f64 / rate * speed
}

/// `devices` identical fridge probes with busy doors, each reporting every
/// [`load_interval`], their first reports spread evenly over one interval so the fleet
/// sends at a steady rate rather than in bursts.
pub fn load(options: &LoadOptions) -> Scenario {
    let interval = load_interval(options.devices, options.rate, options.speed);
    let devices = (0..options.devices)
        .map(|i| {
            let mut rng = Rng::for_device(options.seed, i);
            DevicePlan {
                key: format!("{}-{i:05}", options.prefix),
                name: format!("Load probe {i}"),
                kind: DeviceKind::Probe,
                pairing: Pairing::Probe(UnitSpec::new(
                    &format!("Load fridge {i}"),
                    "cold_holding",
                    interval / options.speed.max(f64::MIN_POSITIVE),
                )),
                behaviour: Behaviour::Cabinet {
                    model: Cabinet::new(
                        CabinetParams::fridge(),
                        DoorPattern::busy(10.0 * MINUTE, 15.0),
                        None,
                        &mut rng,
                    ),
                    interval,
                    offset: Some(interval * i as f64 / options.devices as f64),
                },
            }
        })
        .collect();
    Scenario {
        name: "load".into(),
        devices,
        length: None,
        story: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn options(slow_batch: bool) -> EveningOptions {
        EveningOptions {
            seed: 7,
            slow_batch,
            start: "2025-06-01T10:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn the_evening_has_every_device_kind_with_unique_valid_keys() {
        let scenario = evening(&options(false));
        let keys: HashSet<&str> = scenario.devices.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(keys.len(), scenario.devices.len());
        assert!(keys.iter().all(|k| devices::topic::is_valid_device(k)));
        for kind in [
            DeviceKind::Probe,
            DeviceKind::Scanner,
            DeviceKind::BumpBar,
            DeviceKind::CallButton,
        ] {
            assert!(scenario.devices.iter().any(|d| d.kind == kind), "{kind:?}");
        }
        assert!(!keys.contains("blast-2"));
        assert!(
            evening(&options(true))
                .devices
                .iter()
                .any(|d| d.key == "blast-2")
        );
        assert_eq!(scenario.length, Some(6.0 * HOUR));
    }

    #[test]
    fn the_story_names_the_failures_in_order() {
        let story = evening(&options(true)).story;
        let at = |needle: &str| {
            story
                .iter()
                .find(|b| b.text.contains(needle))
                .unwrap_or_else(|| panic!("no beat with {needle:?}: {story:#?}"))
                .at
        };
        assert!(at("delivery") < at("rendang"));
        assert!(at("fridge-bar reads above 5") < at("fridge-bar reads above 8"));
        assert!(at("fridge-bar reads above 5") > HOUR);
        assert!(at("hotwell-1 reads below 60") > 3.0 * HOUR);
        assert!(at("rendang-0601 reaches 5") < 6.0 * HOUR);
        assert!(at("soto-0601 misses the 21") < at("discards soto"));
        assert!(story.windows(2).all(|w| w[0].at <= w[1].at));
    }

    #[test]
    fn a_probe_limits_object_matches_the_hubs_field_names() {
        let spec = UnitSpec::new("Bain-marie", "hot_holding", 60.0);
        assert_eq!(
            spec.to_json(),
            json!({
                "unit": "Bain-marie", "profile": "hot_holding",
                "min_celsius": 60.0, "max_celsius": null, "critical_celsius": 54.0,
                "alert_delay_minutes": 15, "report_interval_seconds": 60
            })
        );
    }

    #[test]
    fn the_load_interval_spreads_the_rate_over_the_fleet() {
        assert_eq!(load_interval(1000, 500.0, 1.0), 2.0);
        assert_eq!(load_interval(10, 100.0, 60.0), 6.0);
        let scenario = load(&LoadOptions {
            devices: 3,
            rate: 1.0,
            speed: 1.0,
            seed: 1,
            prefix: "load".into(),
        });
        let keys: Vec<&str> = scenario.devices.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(keys, ["load-00000", "load-00001", "load-00002"]);
        let Pairing::Probe(unit) = &scenario.devices[0].pairing else {
            panic!("load devices are probes")
        };
        assert_eq!(unit.report_interval_seconds, 3);
        assert_eq!(scenario.length, None);
    }

    #[test]
    fn clock_shows_hours_and_minutes() {
        assert_eq!(clock(0.0), "0:00");
        assert_eq!(clock(3.0 * HOUR + 25.0 * MINUTE + 59.0), "3:25");
        assert_eq!(clock_seconds(3.0 * HOUR + 25.0 * MINUTE + 59.9), "3:25:59");
    }
}
