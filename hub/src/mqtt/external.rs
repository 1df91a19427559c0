//! External-broker mode: the hub is an MQTT client (rumqttc) of a broker the venue already
//! runs (Mosquitto, EMQX, ...). It subscribes to device topics with a shared subscription,
//! `$share/hub/...`, so several hubs split the work, and publishes downlinks there. The
//! broker authenticates devices and enforces topic isolation in this mode (see
//! docs/devices.md for a Mosquitto ACL that does it).

use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::{
    sync::{mpsc, watch},
    task::JoinHandle,
};

use super::{Downlink, RawMessage};
use crate::metrics::Metrics;

/// Where and as whom to connect, from `mqtt://[user[:password]@]host[:port]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerUrl {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
}

pub fn parse_url(url: &str) -> anyhow::Result<BrokerUrl> {
    let Some(rest) = url.strip_prefix("mqtt://") else {
        bail!("{url:?} is not an mqtt:// URL (TLS brokers are not supported yet)");
    };
    let rest = rest.trim_end_matches('/');
    let (credentials, address) = match rest.rsplit_once('@') {
        Some((credentials, address)) => (Some(credentials), address),
        None => (None, rest),
    };
    let (username, password) = match credentials {
        Some(credentials) => match credentials.split_once(':') {
            Some((user, password)) => (Some(user.to_owned()), Some(password.to_owned())),
            None => (Some(credentials.to_owned()), None),
        },
        None => (None, None),
    };
    let (host, port) = match address.rsplit_once(':') {
        Some((host, port)) => (
            host,
            port.parse::<u16>()
                .with_context(|| format!("{port:?} is not a port number in {url:?}"))?,
        ),
        None => (address, 1883),
    };
    if host.is_empty() {
        bail!("{url:?} names no host");
    }
    Ok(BrokerUrl {
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port,
        username,
        password,
    })
}

/// Connects and keeps reconnecting; uplinks go to `uplinks`, downlinks come from the
/// returned sender.
pub fn start(
    url: &str,
    uplinks: mpsc::Sender<RawMessage>,
    metrics: Metrics,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<(mpsc::Sender<Downlink>, JoinHandle<()>)> {
    let broker = parse_url(url)?;
    let client_id = format!("almahira-hub-{}", uuid::Uuid::new_v4().simple());
    let mut options = MqttOptions::new(client_id, broker.host.clone(), broker.port);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_clean_session(true);
    options.set_max_packet_size(64 * 1024, 64 * 1024);
    if let Some(username) = &broker.username {
        options.set_credentials(
            username.clone(),
            broker.password.clone().unwrap_or_default(),
        );
    }
    let (client, mut eventloop) = AsyncClient::new(options, 1024);
    let (downlink_tx, mut downlink_rx) = mpsc::channel::<Downlink>(4096);
    let publisher = client.clone();
    let task = tokio::spawn(async move {
        let sender = tokio::spawn(async move {
            while let Some(downlink) = downlink_rx.recv().await {
                if publisher
                    .publish(downlink.topic, QoS::AtLeastOnce, false, downlink.payload)
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        let mut failures = 0u32;
        loop {
            let event = tokio::select! {
                event = eventloop.poll() => event,
                _ = stop.changed() => break,
            };
            match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    failures = 0;
                    tracing::info!(host = %broker.host, port = broker.port, "connected to the external MQTT broker");
                    for filter in devices::topic::hub_subscriptions(true) {
                        if let Err(error) = client.try_subscribe(filter, QoS::AtLeastOnce) {
                            tracing::error!(%error, "subscribing on the external broker failed");
                        }
                    }
                }
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    let message = RawMessage {
                        topic: Bytes::from(publish.topic.into_bytes()),
                        payload: publish.payload,
                        retained: publish.retain,
                    };
                    if uplinks.send(message).await.is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    failures += 1;
                    metrics.mqtt().external_reconnect();
                    if failures == 1 || failures.is_power_of_two() {
                        tracing::warn!(%error, failures, "external MQTT broker unreachable; retrying");
                    }
                    let backoff = Duration::from_millis(200 * u64::from(failures.min(25)));
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.changed() => break,
                    }
                }
            }
        }
        let _ = client.try_disconnect();
        sender.abort();
    });
    Ok((downlink_tx, task))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broker_url_gives_host_port_and_credentials() {
        assert_eq!(
            parse_url("mqtt://hub:s3cret@10.0.0.5:1884").unwrap(),
            BrokerUrl {
                host: "10.0.0.5".into(),
                port: 1884,
                username: Some("hub".into()),
                password: Some("s3cret".into()),
            }
        );
        let plain = parse_url("mqtt://localhost").unwrap();
        assert_eq!((plain.host.as_str(), plain.port), ("localhost", 1883));
        assert_eq!(plain.username, None);
    }

    #[test]
    fn a_url_that_is_not_mqtt_or_has_a_bad_port_is_refused() {
        for bad in [
            "localhost:1883",
            "mqtts://x",
            "mqtt://x:port",
            "mqtt://:1883",
            "mqtt://x:99999",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
