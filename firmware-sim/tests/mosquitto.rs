//! The simulator against a real broker: the machine's Mosquitto (127.0.0.1:1883, or
//! `FIRMWARE_SIM_TEST_MQTT`), watched by a rumqttc subscriber. Each test uses its own
//! venue slug so parallel runs never see each other's messages, and clears the retained
//! statuses it leaves behind.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: panicking is how a test fails"
)]

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

use devices::codec::{UplinkMessage, decode_uplink};
use devices::payload::{DeviceKind, DeviceState, EventBody};
use devices::topic::TopicKind;
use firmware_sim::client::{Connection, DeviceIdentity};
use firmware_sim::config::{Auth, ScenarioChoice, SimConfig};
use firmware_sim::{Broker, DeviceCredential, Stats};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};

fn broker() -> Broker {
    std::env::var("FIRMWARE_SIM_TEST_MQTT")
        .unwrap_or_else(|_| "127.0.0.1:1883".into())
        .parse()
        .expect("FIRMWARE_SIM_TEST_MQTT is HOST:PORT")
}

/// A venue slug no other test run uses.
fn unique_venue() -> String {
    format!("fsim-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// One message as the subscriber saw it.
#[derive(Debug, Clone)]
struct Seen {
    topic: String,
    payload: Vec<u8>,
    retain: bool,
}

/// A subscriber on every topic of a venue.
struct Watcher {
    client: AsyncClient,
    rx: mpsc::UnboundedReceiver<Seen>,
    task: tokio::task::JoinHandle<()>,
}

impl Watcher {
    /// Connected and subscribed (SUBACK received) before it returns, so nothing the
    /// test does afterwards is missed.
    async fn start(venue: &str) -> Watcher {
        let broker = broker();
        let id = format!("{venue}-watcher-{}", uuid::Uuid::new_v4().simple());
        let mut options = MqttOptions::new(id, broker.host.clone(), broker.port);
        options.set_keep_alive(Duration::from_secs(30));
        let (client, mut eventloop) = AsyncClient::new(options, 100);
        client
            .subscribe(format!("almahira/v1/{venue}/+/+"), QoS::AtLeastOnce)
            .await
            .unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let (subscribed_tx, subscribed_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut subscribed = Some(subscribed_tx);
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(s) = subscribed.take() {
                            let _ = s.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let _ = tx.send(Seen {
                            topic: p.topic.clone(),
                            payload: p.payload.to_vec(),
                            retain: p.retain,
                        });
                    }
                    Ok(_) => {}
                    Err(e) => panic!(
                        "the test subscriber lost the broker at {broker} ({e}); \
                         is Mosquitto running? (FIRMWARE_SIM_TEST_MQTT overrides the address)"
                    ),
                }
            }
        });
        timeout(Duration::from_secs(5), subscribed_rx)
            .await
            .expect("subscribed within 5 s: is Mosquitto running on 127.0.0.1:1883?")
            .unwrap();
        Watcher { client, rx, task }
    }

    /// Waits for a message matching `wanted`, failing after `patience`.
    async fn wait_for(&mut self, patience: Duration, wanted: impl Fn(&Seen) -> bool) -> Seen {
        let deadline = Instant::now() + patience;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match timeout(left, self.rx.recv()).await {
                Ok(Some(seen)) if wanted(&seen) => return seen,
                Ok(Some(_)) => continue,
                _ => panic!("the expected message did not arrive within {patience:?}"),
            }
        }
    }

    /// Everything received until the broker has been quiet for `quiet`.
    async fn drain(&mut self, quiet: Duration) -> Vec<Seen> {
        let mut out = Vec::new();
        while let Ok(Some(seen)) = timeout(quiet, self.rx.recv()).await {
            out.push(seen);
        }
        out
    }

    /// Clears the retained statuses of `keys` so the broker does not keep them forever.
    async fn clear_statuses<'a>(self, venue: &str, keys: impl IntoIterator<Item = &'a str>) {
        for key in keys {
            let topic = format!("almahira/v1/{venue}/{key}/status");
            self.client
                .publish(topic, QoS::AtLeastOnce, true, Vec::<u8>::new())
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.task.abort();
    }
}

fn status_of(seen: &Seen) -> Option<DeviceState> {
    match decode_uplink(&seen.topic, &seen.payload).ok()?.message {
        UplinkMessage::Status(status) => Some(status.state),
        _ => None,
    }
}

fn evening_config(venue: &str, speed: f64, duration: Duration) -> SimConfig {
    SimConfig {
        broker: broker(),
        venue: venue.to_owned(),
        auth: Auth::Anonymous,
        save_credentials: None,
        scenario: ScenarioChoice::Evening { slow_batch: false },
        speed,
        duration: Some(duration),
        qos: QoS::AtLeastOnce,
        connect_rate: 500.0,
        seed: 11,
        progress: false,
    }
}

#[tokio::test]
async fn an_evening_fleet_publishes_clean_messages_in_sequence_with_status_bookends() {
    let venue = unique_venue();
    let mut watcher = Watcher::start(&venue).await;
    // At speed 600 five real seconds are 50 scenario minutes: the delivery (0:20), the
    // cooling batch (0:30) and the first bump-bar presses all fall inside.
    let summary = firmware_sim::run_until(
        evening_config(&venue, 600.0, Duration::from_secs(5)),
        std::future::pending(),
    )
    .await
    .unwrap();
    let seen = watcher.drain(Duration::from_millis(700)).await;

    let mut uplinks = Vec::new();
    for s in &seen {
        let uplink = decode_uplink(&s.topic, &s.payload).unwrap_or_else(|e| {
            panic!(
                "{} {:?} does not decode: {e}",
                s.topic,
                String::from_utf8_lossy(&s.payload)
            )
        });
        uplinks.push(uplink);
    }

    // Status bookends: every device announced itself online first and offline last.
    let mut statuses: BTreeMap<&str, Vec<DeviceState>> = BTreeMap::new();
    for u in &uplinks {
        if let UplinkMessage::Status(s) = &u.message {
            statuses.entry(u.device.as_str()).or_default().push(s.state);
        }
    }
    assert_eq!(statuses.len(), summary.devices, "{statuses:?}");
    for (device, states) in &statuses {
        assert_eq!(
            states,
            &[DeviceState::Online, DeviceState::Offline],
            "{device}"
        );
    }

    // Per device: seq counts 1, 2, 3 ... in order, msg_ids never repeat.
    let mut seqs: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    let mut ids = HashSet::new();
    for u in &uplinks {
        if let (Some(seq), Some(id)) = (u.message.seq(), u.message.msg_id()) {
            seqs.entry(u.device.as_str()).or_default().push(seq);
            assert!(ids.insert((u.device.clone(), id.to_owned())), "{id} twice");
        }
    }
    for (device, seq) in &seqs {
        let expected: Vec<u64> = (1..=seq.len() as u64).collect();
        assert_eq!(seq, &expected, "{device}");
    }

    // Everything the simulator says it sent arrived (QoS 1), and was acknowledged.
    let sent_uplinks = uplinks
        .iter()
        .filter(|u| u.message.kind() != TopicKind::Status)
        .count() as u64;
    assert_eq!(sent_uplinks, summary.sent);
    // Acks of the last messages may still be on their way when a device disconnects.
    let statuses_sent = 2 * summary.devices as u64;
    assert!(
        (summary.sent..=summary.sent + statuses_sent).contains(&summary.puback),
        "{} acks for {} messages",
        summary.puback,
        summary.sent
    );
    assert_eq!(summary.dropped, 0);
    assert_eq!(summary.reconnects, 0);

    // The story's events, each well formed.
    let events: Vec<(&str, &EventBody)> = uplinks
        .iter()
        .filter_map(|u| match &u.message {
            UplinkMessage::Event(e) => Some((u.device.as_str(), &e.event)),
            _ => None,
        })
        .collect();
    let scans: Vec<_> = events
        .iter()
        .filter_map(|(_, e)| match e {
            EventBody::Scan { code, symbology } => Some((code, symbology)),
            _ => None,
        })
        .collect();
    assert_eq!(scans.len(), 8, "the whole delivery is scanned");
    for (code, symbology) in scans {
        devices::decode_scan(code, *symbology).unwrap();
    }
    assert!(events.iter().any(|(d, e)| *d == "blast-1"
        && matches!(e, EventBody::CoolingStart { probe, .. } if probe == "core")));
    assert!(
        events
            .iter()
            .any(|(d, e)| d.starts_with("bump-") && matches!(e, EventBody::Key { .. }))
    );
    assert_eq!(summary.scans, 8);
    assert_eq!(summary.cooling_starts, 1);

    // Device clocks show scenario time: about 50 minutes passed for them in 5 seconds.
    let stamps: Vec<_> = uplinks
        .iter()
        .filter_map(|u| match &u.message {
            UplinkMessage::Telemetry(t) => t.ts.as_ref()?.to_datetime(),
            _ => None,
        })
        .collect();
    let span = *stamps.iter().max().unwrap() - *stamps.iter().min().unwrap();
    assert!(
        span > chrono::Duration::minutes(40),
        "device time spans {span}"
    );

    // Every probe reported, with plausible temperatures for its unit.
    let probes: HashSet<&str> = uplinks
        .iter()
        .filter(|u| u.message.kind() == TopicKind::Telemetry)
        .map(|u| u.device.as_str())
        .collect();
    for probe in [
        "fridge-walkin",
        "fridge-line",
        "fridge-bar",
        "freezer-1",
        "hotwell-1",
        "blast-1",
    ] {
        assert!(probes.contains(probe), "{probe} reported nothing");
    }
    for u in &uplinks {
        if let UplinkMessage::Telemetry(t) = &u.message
            && u.device == "freezer-1"
        {
            assert!(t.readings[0].celsius < -15.0, "{t:?}");
        }
    }

    watcher
        .clear_statuses(&venue, statuses.keys().copied())
        .await;
}

fn identity(venue: &str, key: &str) -> DeviceIdentity {
    DeviceIdentity {
        venue: venue.to_owned(),
        key: key.to_owned(),
        kind: DeviceKind::CallButton,
        credential: DeviceCredential {
            key: key.to_owned(),
            username: format!("{venue}/{key}"),
            password: String::new(),
        },
    }
}

#[tokio::test]
async fn a_device_that_loses_power_is_announced_offline_by_its_will() {
    let venue = unique_venue();
    let mut watcher = Watcher::start(&venue).await;
    let stats = Arc::new(Stats::default());
    let device = Connection::open(
        &broker(),
        &identity(&venue, "call-t7"),
        stats.clone(),
        Arc::new(AtomicBool::new(false)),
    );
    let online = watcher
        .wait_for(Duration::from_secs(5), |s| s.topic.ends_with("/status"))
        .await;
    assert_eq!(status_of(&online), Some(DeviceState::Online));

    device.kill();
    let will = watcher
        .wait_for(Duration::from_secs(5), |s| s.topic.ends_with("/status"))
        .await;
    assert_eq!(will.topic, format!("almahira/v1/{venue}/call-t7/status"));
    assert_eq!(status_of(&will), Some(DeviceState::Offline));

    // The will is retained: someone who subscribes later learns the device is offline.
    let mut latecomer = Watcher::start(&venue).await;
    let retained = latecomer
        .wait_for(Duration::from_secs(5), |s| s.topic.ends_with("/status"))
        .await;
    assert!(retained.retain);
    assert_eq!(status_of(&retained), Some(DeviceState::Offline));
    latecomer.task.abort();
    watcher.clear_statuses(&venue, ["call-t7"]).await;
}

#[tokio::test]
async fn a_device_counts_commands_and_error_replies_and_reconnects_after_a_takeover() {
    let venue = unique_venue();
    let mut watcher = Watcher::start(&venue).await;
    let stats = Arc::new(Stats::default());
    let stopping = Arc::new(AtomicBool::new(false));
    let id = identity(&venue, "bump-grill");
    let device = Connection::open(&broker(), &id, stats.clone(), stopping.clone());
    watcher
        .wait_for(Duration::from_secs(5), |s| {
            status_of(s) == Some(DeviceState::Online)
        })
        .await;
    // The device subscribes before it announces itself, so once `online` is out its
    // cmd and error topics are live.

    let cmd = id.topic(TopicKind::Cmd);
    let error = id.topic(TopicKind::Error);
    let hub = &watcher.client;
    hub.publish(
        &cmd,
        QoS::AtLeastOnce,
        false,
        br#"{"type":"ack","msg_id":"m-1"}"#.to_vec(),
    )
    .await
    .unwrap();
    hub.publish(
        &cmd,
        QoS::AtLeastOnce,
        false,
        br#"{"type":"led","color":"amber","pattern":"blink","seconds":10}"#.to_vec(),
    )
    .await
    .unwrap();
    hub.publish(
        &error,
        QoS::AtLeastOnce,
        false,
        br#"{"code":"bad_shape","message":"unknown field","msg_id":"m-2"}"#.to_vec(),
    )
    .await
    .unwrap();
    hub.publish(&cmd, QoS::AtLeastOnce, false, b"not json".to_vec())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while stats.bad_downlink.load(Relaxed) < 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stats.commands.load(Relaxed), 2);
    assert_eq!(stats.command_acks.load(Relaxed), 1);
    assert_eq!(stats.errors_received.load(Relaxed), 1);
    assert_eq!(stats.error_codes()["bad_shape"], 1);
    assert_eq!(stats.bad_downlink.load(Relaxed), 1);

    // Another client with the same id takes the session over; the broker drops ours and
    // the device comes back on its own, announcing itself again.
    let b = broker();
    let mut options = MqttOptions::new(id.credential.username.clone(), b.host, b.port);
    options.set_keep_alive(Duration::from_secs(30));
    let (intruder, mut intruder_loop) = AsyncClient::new(options, 10);
    while !matches!(
        intruder_loop.poll().await,
        Ok(Event::Incoming(Packet::ConnAck(_)))
    ) {}
    intruder.disconnect().await.unwrap();
    let _ = timeout(Duration::from_secs(1), intruder_loop.poll()).await;
    drop(intruder_loop);

    let deadline = Instant::now() + Duration::from_secs(10);
    while stats.reconnects.load(Relaxed) < 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(stats.reconnects.load(Relaxed) >= 1, "the device came back");
    assert!(stats.connection_errors.load(Relaxed) >= 1);
    watcher
        .wait_for(Duration::from_secs(5), |s| {
            status_of(s) == Some(DeviceState::Online)
        })
        .await;
    assert!(device.try_publish(
        &id.topic(TopicKind::Event),
        QoS::AtLeastOnce,
        br#"{"msg_id":"x-1","seq":1,"event":{"type":"key","key":"bump"}}"#.to_vec(),
    ));
    watcher
        .wait_for(Duration::from_secs(5), |s| s.topic.ends_with("/event"))
        .await;

    // A clean stop says offline itself and disconnects (no will needed).
    stopping.store(true, Relaxed);
    device.say_goodbye(Duration::from_secs(2)).await;
    device.finish(Duration::from_secs(3)).await;
    let last = watcher
        .wait_for(Duration::from_secs(5), |s| s.topic.ends_with("/status"))
        .await;
    assert_eq!(status_of(&last), Some(DeviceState::Offline));
    assert_eq!(stats.connected.load(Relaxed), 0);
    watcher.clear_statuses(&venue, ["bump-grill"]).await;
}

#[tokio::test]
async fn a_load_fleet_holds_its_rate_and_every_message_arrives() {
    let venue = unique_venue();
    let mut watcher = Watcher::start(&venue).await;
    let config = SimConfig {
        scenario: ScenarioChoice::Load {
            devices: 100,
            rate: 400.0,
            prefix: "load".into(),
        },
        speed: 1.0,
        duration: Some(Duration::from_secs(3)),
        ..evening_config(&venue, 1.0, Duration::from_secs(3))
    };
    let summary = firmware_sim::run_until(config, std::future::pending())
        .await
        .unwrap();
    let seen = watcher.drain(Duration::from_millis(700)).await;
    let telemetry = seen
        .iter()
        .filter(|s| s.topic.ends_with("/telemetry"))
        .inspect(|s| {
            decode_uplink(&s.topic, &s.payload).unwrap();
        })
        .count() as u64;
    assert_eq!(summary.devices, 100);
    assert!(
        (1140..=1200).contains(&summary.sent),
        "{} messages in 3 s at 400/s",
        summary.sent
    );
    assert_eq!(telemetry, summary.sent);
    assert_eq!(summary.dropped, 0);
    assert!(!summary.completed, "a load run has no story end");
    let keys: Vec<String> = (0..100).map(|i| format!("load-{i:05}")).collect();
    watcher
        .clear_statuses(&venue, keys.iter().map(String::as_str))
        .await;
}
