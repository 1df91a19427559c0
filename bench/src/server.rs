//! Owns one real hub running inside the benchmark process: built from `Settings` with the
//! demo venue seeded, serving on 127.0.0.1 on a free port, stopped gracefully on request.
//! It must not configure logging: the hub's own log lines would land in the figures' output.

use std::net::SocketAddr;

use anyhow::Context as _;
use hub::{app::Application, config::Settings};
use tempfile::TempDir;
use tokio::{sync::oneshot, task::JoinHandle};

/// A hub serving in a background task of this process.
pub struct RunningHub {
    address: SocketAddr,
    max_batch: usize,
    stop: oneshot::Sender<()>,
    serving: JoinHandle<anyhow::Result<()>>,
    /// The hub's data directory (generated keys; the SQLite file when no URL is given).
    _data_dir: TempDir,
}

impl RunningHub {
    /// Starts a hub on `database_url` (an empty database) with the demo venue, and with
    /// `max_batch` as its group-commit limit if given (`Some(1)` commits every command on
    /// its own) or else the hub's default.
    pub async fn start(database_url: &str, max_batch: Option<usize>) -> anyhow::Result<Self> {
        let data_dir = tempfile::Builder::new()
            .prefix("hub-bench-data-")
            .tempdir()
            .context("creating the hub's data directory")?;
        let mut settings = Settings::for_tests(Some(database_url.to_owned()), data_dir.path());
        settings.demo = true;
        if let Some(max_batch) = max_batch {
            settings.max_batch = max_batch;
        }
        let max_batch = settings.max_batch;
        let application = Application::build(settings)
            .await
            .context("starting the hub")?;
        let address = application.address();
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = tokio::spawn(application.run_until(async move {
            let _ = stopped.await;
        }));
        Ok(Self {
            address,
            max_batch,
            stop,
            serving,
            _data_dir: data_dir,
        })
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The most commands this hub commits in one transaction.
    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// Stops accepting requests, lets the engine flush and waits for the hub to finish.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.serving.await.context("hub task")?
    }
}
