//! Wiring: builds a running hub from `Settings` (store, secrets, engine, demo data, HTTP
//! listener) and serves until a shutdown signal. The listener is bound before `run`, so
//! tests bind port 0 and read the real port from `Application::address`. The HTTP
//! connection caps are worked out when serving starts, once the store and the MQTT port
//! hold their file descriptors.

use std::{future::Future, net::SocketAddr, sync::Arc};

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::{
    auth::{DeviceSync, LoginThrottle, TokenKeys, random_key},
    config::Settings,
    demo::{self, DemoVenue},
    engine::{Engine, EngineConfig},
    http,
    metrics::Metrics,
    readings::ReadingsRecorder,
    state::AppState,
    store,
};

pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    state: AppState,
    settings: Settings,
    demo: Option<DemoVenue>,
    mqtt: Option<crate::mqtt::MqttService>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let store = store::connect(settings.database_url.as_deref(), &settings.data_dir).await?;
        let token_secret = match &settings.jwt_secret {
            Some(secret) => secret.clone(),
            None => store
                .setting_or_insert("token_signing_key", &hex(&random_key()))
                .await
                .context("reading the token signing key")?,
        };
        let pin_key = store
            .setting_or_insert("pin_lookup_key", &hex(&random_key()))
            .await
            .context("reading the PIN lookup key")?;
        let metrics = Metrics::new();
        let engine = Engine::start(
            store.clone(),
            metrics.clone(),
            EngineConfig {
                max_batch: settings.max_batch,
                snapshot_every: settings.snapshot_every,
                ..EngineConfig::default()
            },
        )
        .await
        .context("starting the venues")?;
        let (readings, _readings_task) = ReadingsRecorder::start(
            store.clone(),
            engine.clone(),
            metrics.clone(),
            settings.readings(),
        );
        let pin_key: Arc<[u8]> = Arc::from(pin_key.into_bytes());
        let seeded = if settings.demo {
            demo::seed_if_empty(&engine, &pin_key)
                .await
                .context("seeding the demo venue")?
        } else {
            None
        };
        engine
            .register_usernames()
            .await
            .context("registering the venues' usernames")?;
        // Printed on every start while the demo logins work, not only on the first.
        let demo = match seeded {
            Some(seeded) => Some(seeded),
            None => demo::working_logins(&engine, &pin_key)
                .await
                .context("reading the demo logins")?,
        };
        let listener = TcpListener::bind(settings.http).await.map_err(|error| {
            if error.kind() == std::io::ErrorKind::AddrInUse {
                anyhow::anyhow!(
                    "{} is already in use: choose another address with --http ADDR (or HUB_HTTP)",
                    settings.http
                )
            } else {
                anyhow::Error::new(error).context(format!("listening on {}", settings.http))
            }
        })?;
        let address = listener.local_addr().context("reading the bound address")?;
        let gateway = crate::ws::Gateway::start(engine.clone(), settings.gateway())
            .await
            .context("starting the screen gateway")?;
        let device_sync = DeviceSync::default();
        let mqtt = crate::mqtt::MqttService::start(
            &settings.mqtt_config(),
            engine.clone(),
            metrics.clone(),
            crate::mqtt::bridge::Sinks {
                gateway: gateway.clone(),
                readings: readings.clone(),
            },
            device_sync.clone(),
        )
        .await
        .context("starting the device side (MQTT)")?;
        let state = AppState {
            gateway,
            readings,
            engine,
            store,
            tokens: Arc::new(
                TokenKeys::new(token_secret.as_bytes()).with_lifetimes(settings.token_lifetimes()),
            ),
            pin_key,
            throttle: Arc::new(LoginThrottle::default()),
            metrics,
            device_sync,
        };
        Ok(Self {
            listener,
            address,
            state,
            settings,
            demo,
            mqtt,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Where devices connect, when the embedded broker runs.
    pub fn mqtt_address(&self) -> Option<SocketAddr> {
        self.mqtt.as_ref().and_then(|mqtt| mqtt.address())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn has_venues(&self) -> bool {
        !self.state.engine.venues().is_empty()
    }

    /// The demo venue with the demo logins that work in it: seeded by this start (`--demo`
    /// on an empty database) or found from an earlier one.
    pub fn demo(&self) -> Option<&DemoVenue> {
        self.demo.as_ref()
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets requests in flight finish
    /// (up to the grace period), writes the queued probe readings (up to the grace period again),
    /// flushes every venue's queued commands and writes snapshots.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let router = http::router(self.state.clone());
        let grace = self.settings.shutdown_grace();
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let stopping_gateway = self.state.gateway.clone();
        let server = http::server::serve(
            self.listener,
            router,
            self.settings.http_server(),
            self.state.metrics.clone(),
            async move {
                shutdown.await;
                tracing::info!("shutting down: no new connections");
                stopping_gateway.stop();
                let _ = stopping_tx.send(());
            },
        );
        let serving = tokio::spawn(server);
        let mut serving = std::pin::pin!(serving);
        tokio::select! {
            result = &mut serving => { result.context("server task")?; }
            _ = stopping_rx => {
                match tokio::time::timeout(grace, &mut serving).await {
                    Ok(result) => { result.context("server task")?; }
                    Err(_) => tracing::warn!(?grace, "requests still running after the grace period"),
                }
            }
        }
        if let Some(mqtt) = self.mqtt {
            mqtt.stop().await;
        }
        // Before the venues: the recorder asks them for their timezones.
        if tokio::time::timeout(grace, self.state.readings.stop())
            .await
            .is_err()
        {
            tracing::error!(
                ?grace,
                "the store did not take the last probe readings within the grace period; they are lost"
            );
        }
        self.state.engine.shutdown().await;
        tracing::info!("stopped");
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
