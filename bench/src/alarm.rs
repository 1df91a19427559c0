//! The alarm probes of the devices benchmark and the screen that times their alerts. Each
//! alarm probe is its own MQTT connection (rumqttc, the credentials the hub issued) that
//! publishes, once a second, a critical reading (a cold-holding unit at 8 °C or more, a
//! value no other publish of the run uses) and half a second later one back within limits,
//! so every critical reading opens a new alert episode. The publish instant of each critical
//! reading is kept by (device id, value); an `alerts` screen matches every
//! `food_safety_alert` frame to it. It measures and counts; it asserts nothing.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering::Relaxed},
    },
    time::Duration,
};

use anyhow::bail;
use chrono::{SecondsFormat, Utc};
use devices::{
    UplinkMessage,
    codec::encode_uplink,
    payload::{Reading, Telemetry, Timestamp},
    topic::TopicKind,
};
use firmware_sim::{
    Broker, DeviceCredential,
    client::{DeviceIdentity, mqtt_options},
};
use rumqttc::{AsyncClient, Event, Packet, QoS};
use serde_json::Value;
use tokio::{
    sync::watch,
    task::JoinHandle,
    time::{Instant, MissedTickBehavior},
};

use crate::{latency::Latencies, screen::Screen};

/// Lowest critical value published; the cold-holding critical limit is 8 °C.
const CRITICAL_FROM_CELSIUS: f64 = 8.5;
/// The reading that ends an episode: within a cold-holding unit's 5 °C.
const IN_LIMITS_CELSIUS: f64 = 3.0;
/// Between an alarm probe's critical readings.
const PERIOD: Duration = Duration::from_secs(1);
/// How long connecting the alarm probes may take.
const CONNECT_PATIENCE: Duration = Duration::from_secs(30);

/// An alarm probe as the hub registered it.
#[derive(Debug, Clone)]
pub struct AlarmProbe {
    pub venue: String,
    /// The hub's id of the device, as alerts carry it.
    pub device_id: String,
    pub credential: DeviceCredential,
}

/// When each critical reading was handed to its connection, by (device id, millidegrees).
type Published = Arc<Mutex<HashMap<(String, i64), Instant>>>;

/// The connected alarm probes.
pub struct AlarmFleet {
    probes: Vec<Connected>,
    published: Published,
    /// Counts every critical value handed out, so no two publishes share one.
    values: Arc<AtomicU64>,
}

struct Connected {
    probe: AlarmProbe,
    client: AsyncClient,
    topic: String,
    driver: JoinHandle<()>,
    stopping: Arc<AtomicBool>,
}

/// What the alarm probes sent.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sent {
    pub critical: u64,
    pub in_limits: u64,
    /// Publishes the client would not queue.
    pub failed: u64,
}

impl Sent {
    pub fn total(&self) -> u64 {
        self.critical + self.in_limits
    }
}

impl AlarmFleet {
    /// Connects every probe to `broker` and waits until the broker has accepted them all.
    pub async fn connect(broker: &Broker, probes: Vec<AlarmProbe>) -> anyhow::Result<Self> {
        let connected = Arc::new(AtomicU64::new(0));
        let last_error = Arc::new(Mutex::new(None::<String>));
        let mut fleet = Vec::with_capacity(probes.len());
        for probe in probes {
            let identity = DeviceIdentity {
                venue: probe.venue.clone(),
                key: probe.credential.key.clone(),
                kind: devices::DeviceKind::Probe,
                credential: probe.credential.clone(),
            };
            let (client, mut eventloop) = AsyncClient::new(mqtt_options(broker, &identity), 64);
            let stopping = Arc::new(AtomicBool::new(false));
            let (counted, errors, stop) = (connected.clone(), last_error.clone(), stopping.clone());
            let driver = tokio::spawn(async move {
                loop {
                    match eventloop.poll().await {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            counted.fetch_add(1, Relaxed);
                        }
                        Ok(_) => {}
                        Err(error) => {
                            if stop.load(Relaxed) {
                                break;
                            }
                            if let Ok(mut last) = errors.lock() {
                                *last = Some(error.to_string());
                            }
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                    }
                }
            });
            fleet.push(Connected {
                topic: identity.topic(TopicKind::Telemetry),
                probe,
                client,
                driver,
                stopping,
            });
        }
        let deadline = Instant::now() + CONNECT_PATIENCE;
        while (connected.load(Relaxed) as usize) < fleet.len() {
            if Instant::now() >= deadline {
                let error = last_error.lock().ok().and_then(|e| e.clone());
                bail!(
                    "{} of {} alarm probes connected within {CONNECT_PATIENCE:?}; last error: {}",
                    connected.load(Relaxed),
                    fleet.len(),
                    error.as_deref().unwrap_or("none")
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Self {
            probes: fleet,
            published: Arc::default(),
            values: Arc::default(),
        })
    }

    /// Publishes from `start` until `until`: each probe a critical reading every second
    /// (probe `i` of `n` offset by `i/n` s, so the alerts are spread evenly) and one back
    /// within limits half a second after it.
    pub async fn publish(&self, start: Instant, until: Instant) -> Sent {
        let count = self.probes.len().max(1);
        let run = Utc::now().timestamp_millis() % 1_000_000_000;
        let tasks: Vec<JoinHandle<Sent>> = self
            .probes
            .iter()
            .enumerate()
            .map(|(index, probe)| {
                let offset = PERIOD.mul_f64(index as f64 / count as f64);
                let (client, topic) = (probe.client.clone(), probe.topic.clone());
                let device_id = probe.probe.device_id.clone();
                let (published, values) = (self.published.clone(), self.values.clone());
                tokio::spawn(async move {
                    let mut sent = Sent::default();
                    let mut seq = 0u64;
                    let mut ticks = tokio::time::interval_at(start + offset, PERIOD / 2);
                    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
                    loop {
                        ticks.tick().await;
                        if Instant::now() >= until {
                            break;
                        }
                        seq += 1;
                        let critical = seq % 2 == 1;
                        let celsius = if critical {
                            critical_value(values.fetch_add(1, Relaxed))
                        } else {
                            IN_LIMITS_CELSIUS
                        };
                        let payload = telemetry(run, seq, celsius);
                        if critical && let Ok(mut published) = published.lock() {
                            published
                                .insert((device_id.clone(), millidegrees(celsius)), Instant::now());
                        }
                        match client
                            .publish(&topic, QoS::AtLeastOnce, false, payload)
                            .await
                        {
                            Ok(()) if critical => sent.critical += 1,
                            Ok(()) => sent.in_limits += 1,
                            Err(_) => sent.failed += 1,
                        }
                    }
                    sent
                })
            })
            .collect();
        let mut total = Sent::default();
        for task in tasks {
            if let Ok(sent) = task.await {
                total.critical += sent.critical;
                total.in_limits += sent.in_limits;
                total.failed += sent.failed;
            }
        }
        total
    }

    /// The publish instants a screen matches alerts against.
    pub fn published(&self) -> Published {
        self.published.clone()
    }

    /// Disconnects every probe cleanly (no last will).
    pub async fn close(self) {
        for probe in &self.probes {
            probe.stopping.store(true, Relaxed);
            let _ = probe.client.try_disconnect();
        }
        for probe in self.probes {
            let abort = probe.driver.abort_handle();
            if tokio::time::timeout(Duration::from_secs(3), probe.driver)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

/// The `n`-th critical value: 8.500, 8.501, ... (a thousand per degree, so unique for the
/// run as the number of publishes is bounded well below that range).
fn critical_value(n: u64) -> f64 {
    CRITICAL_FROM_CELSIUS + (n % 1_000_000) as f64 / 1000.0
}

fn millidegrees(celsius: f64) -> i64 {
    (celsius * 1000.0).round() as i64
}

/// One telemetry message of an alarm probe.
fn telemetry(run: i64, seq: u64, celsius: f64) -> Vec<u8> {
    let ts = Timestamp::parse(Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)).ok();
    encode_uplink(&UplinkMessage::Telemetry(Telemetry {
        msg_id: format!("alarm-{run}-{seq}"),
        seq,
        // Each bench run is a new boot of its probes: their seq starts again at 1.
        boot: Some(format!("alarm-{run}")),
        ts,
        readings: vec![Reading {
            probe: "main".to_owned(),
            celsius,
        }],
        door: None,
        battery_percent: None,
    }))
}

/// What the alerts screen saw.
#[derive(Debug, Default)]
pub struct Alerts {
    /// Publish of a critical reading to its `food_safety_alert` frame.
    pub latencies: Latencies,
    /// Alert frames matched to a critical reading of an alarm probe.
    pub matched: u64,
    /// Other `food_safety_alert` frames (another probe, another kind of alert), by the
    /// alert's kind.
    pub other: BTreeMap<String, u64>,
    /// Why the screen stopped before it was told to, if it did.
    pub ended_early: Option<String>,
}

/// Reads `screen` (subscribed to `alerts`) until `stop` turns true, timing every
/// `food_safety_alert` frame of an alarm probe's critical reading.
pub async fn listen(
    mut screen: Screen,
    published: Published,
    mut stop: watch::Receiver<bool>,
) -> Alerts {
    let mut alerts = Alerts::default();
    loop {
        let frame = tokio::select! {
            frame = screen.next_frame() => frame,
            _ = stop.wait_for(|stop| *stop) => break,
        };
        let arrived = Instant::now();
        let frame = match frame {
            Ok(frame) => frame,
            Err(error) => {
                alerts.ended_early = Some(format!("{error:#}"));
                break;
            }
        };
        if frame["type"] != "event" || frame["kind"] != "food_safety_alert" {
            continue;
        }
        let sent = alert_key(&frame["data"])
            .and_then(|key| published.lock().ok().and_then(|mut p| p.remove(&key)));
        match sent {
            Some(sent) => {
                alerts.matched += 1;
                alerts
                    .latencies
                    .record(arrived.saturating_duration_since(sent));
            }
            None => {
                let kind = frame["data"]["kind"].as_str().unwrap_or("?").to_owned();
                *alerts.other.entry(kind).or_default() += 1;
            }
        }
    }
    alerts
}

/// (device id, millidegrees) of a critical alert with a reading.
fn alert_key(alert: &Value) -> Option<(String, i64)> {
    if alert["kind"] != "critical" {
        return None;
    }
    Some((
        alert["device_id"].as_str()?.to_owned(),
        millidegrees(alert["celsius"].as_f64()?),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn critical_values_are_critical_and_distinct_at_a_thousandth_of_a_degree() {
        let values: Vec<i64> = (0..5000).map(|n| millidegrees(critical_value(n))).collect();
        assert!(values.iter().all(|v| *v >= 8000));
        let distinct: std::collections::HashSet<_> = values.iter().collect();
        assert_eq!(distinct.len(), values.len());
    }

    #[test]
    fn an_alert_is_matched_by_device_and_value_only_when_critical() {
        let alert = json!({"device_id": "d-1", "kind": "critical", "celsius": 8.503});
        assert_eq!(alert_key(&alert), Some(("d-1".to_owned(), 8503)));
        let offline = json!({"device_id": "d-1", "kind": "offline", "celsius": null});
        assert_eq!(alert_key(&offline), None);
    }

    #[test]
    fn an_alarm_reading_is_a_valid_telemetry_message() {
        let payload = telemetry(7, 3, critical_value(2));
        let decoded =
            devices::codec::decode_uplink("almahira/v1/demo/alarm-00000/telemetry", &payload)
                .expect("the hub's codec takes it");
        let UplinkMessage::Telemetry(message) = decoded.message else {
            panic!("not telemetry: {:?}", decoded.message)
        };
        assert_eq!(message.readings[0].celsius, 8.502);
        assert_eq!(message.msg_id, "alarm-7-3");
    }
}
