//! Owns a real `hub` binary running as a child process for a benchmark, and the process
//! limits around it: the binary is found (and with cargo, built) next to the bench, started
//! on 127.0.0.1 with the demo venue and the open-files soft limit raised to the hard one,
//! read for its address and memory, and killed when dropped, on success or error.
//! It must not interpret the hub's output beyond the address line; log lines are kept for
//! the report.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::{Context as _, bail};
use tempfile::TempDir;
use tokio::{
    io::{AsyncBufReadExt as _, BufReader},
    process::{Child, Command},
};

/// How long the hub may take to migrate a fresh database, seed the demo and listen.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// Log lines kept from the hub, for the report.
const KEPT_LINES: usize = 20;
/// Raises the soft open-files limit to the hard one (ignored where not allowed), then
/// becomes the program in `$0` with the remaining arguments.
const RAISE_FILES_THEN_EXEC: &str = r#"ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@""#;

/// A hub child process; killed on drop.
pub struct HubProcess {
    child: Child,
    pid: u32,
    address: String,
    /// Lines the hub printed after its banner (warnings and errors at `RUST_LOG=warn`).
    log: Arc<Mutex<Vec<String>>>,
    _data_dir: TempDir,
}

/// The `hub` executable beside the running bench. Under `cargo run` (which sets `CARGO`)
/// it is built first with the same profile, so one `cargo run --release -p bench` works from
/// a fresh checkout; otherwise it must already exist.
pub async fn hub_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the bench executable")?;
    let path = exe.with_file_name(format!("hub{}", std::env::consts::EXE_SUFFIX));
    // `<target dir>/<profile>/bench`: build into the same target directory.
    let target_dir = exe.parent().and_then(Path::parent);
    if let (Some(cargo), Some(target_dir)) = (std::env::var_os("CARGO"), target_dir) {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let mut build = Command::new(cargo);
        build
            .args([
                "build",
                "--quiet",
                "-p",
                "hub",
                "--bin",
                "hub",
                "--manifest-path",
            ])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(target_dir);
        if !cfg!(debug_assertions) {
            build.arg("--release");
        }
        eprintln!("building the hub binary with cargo (same profile as the bench)...");
        let status = build.status().await.context("running cargo build -p hub")?;
        if !status.success() {
            bail!("cargo build -p hub failed ({status})");
        }
    }
    if !path.is_file() {
        bail!(
            "no hub binary at {}: run `cargo build --release -p hub -p bench` first, \
             or start the benchmark with `cargo run --release -p bench -- screens`",
            path.display()
        );
    }
    Ok(path)
}

impl HubProcess {
    /// Starts `binary` on 127.0.0.1 with `--demo` on `database_url` (an empty database),
    /// delivery alerts off and warnings-only logs, and waits for its address.
    pub async fn start(binary: &Path, database_url: &str) -> anyhow::Result<Self> {
        let data_dir = tempfile::Builder::new()
            .prefix("hub-bench-data-")
            .tempdir()
            .context("creating the hub's data directory")?;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(RAISE_FILES_THEN_EXEC)
            .arg(binary)
            .args([
                "--http",
                "127.0.0.1:0",
                "--mqtt",
                "off",
                "--demo",
                "--data-dir",
            ])
            .arg(data_dir.path())
            .env("DATABASE_URL", database_url)
            .env("HUB_DELIVERY_ALERT_SECONDS", "0")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        // `exec` keeps the shell's process id, so this is the hub's.
        let pid = child.id().context("the hub exited at once")?;
        let log = Arc::new(Mutex::new(Vec::new()));
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(keep_lines(BufReader::new(stderr), log.clone(), false));
        }
        let mut stdout = BufReader::new(child.stdout.take().context("the hub's stdout")?);
        let address = tokio::time::timeout(START_TIMEOUT, async {
            let mut line = String::new();
            loop {
                line.clear();
                if stdout.read_line(&mut line).await? == 0 {
                    return Ok::<_, std::io::Error>(None);
                }
                if let Some(address) = listening_address(&line) {
                    return Ok(Some(address));
                }
            }
        })
        .await;
        let address = match address {
            Ok(Ok(Some(address))) => address,
            Ok(Ok(None)) | Ok(Err(_)) => {
                let status = child.wait().await.ok();
                bail!(
                    "the hub stopped before listening ({status:?}); its last lines: {}",
                    tail(&log)
                );
            }
            Err(_) => bail!("the hub did not listen within {START_TIMEOUT:?}"),
        };
        // The banner's other lines (URLs, demo logins) are not log records.
        tokio::spawn(keep_lines(stdout, log.clone(), true));
        Ok(Self {
            child,
            pid,
            address,
            log,
            _data_dir: data_dir,
        })
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Resident memory of the hub now, in KiB, from `/proc/<pid>/status`.
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .context("reading the hub's /proc status")?;
        vm_rss_kib(&status).context("no VmRSS in the hub's /proc status")
    }

    /// Log lines the hub printed after its banner (at most the first few).
    pub fn log(&self) -> Vec<String> {
        self.log
            .lock()
            .map(|lines| lines.clone())
            .unwrap_or_default()
    }

    /// Kills the hub and waits for it to exit.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

async fn keep_lines(
    reader: impl tokio::io::AsyncBufRead + Unpin,
    log: Arc<Mutex<Vec<String>>>,
    only_records: bool,
) {
    let mut lines = reader.lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if only_records && !(line.contains("WARN") || line.contains("ERROR")) {
            continue;
        }
        if let Ok(mut log) = log.lock()
            && log.len() < KEPT_LINES
        {
            log.push(line);
        }
    }
}

fn tail(log: &Arc<Mutex<Vec<String>>>) -> String {
    log.lock()
        .map(|lines| lines.join(" | "))
        .unwrap_or_default()
}

/// The address in the hub's `Almahira Hub listening on http://ADDR (store)` banner.
fn listening_address(line: &str) -> Option<String> {
    let rest = line.split_once("listening on http://")?.1;
    let address = rest.split_whitespace().next()?;
    Some(address.to_owned())
}

/// `VmRSS:   12345 kB` in a `/proc/<pid>/status` text.
fn vm_rss_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The soft `Max open files` limit in a `/proc/self/limits` text; `None` when unlimited
/// or unreadable.
pub fn open_files_soft_limit(limits: &str) -> Option<u64> {
    limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// This process's soft open-files limit; `None` when unlimited or unknown.
pub fn own_open_files_limit() -> Option<u64> {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| open_files_soft_limit(&limits))
}

/// Runs this same bench again through `sh` with the soft open-files limit raised to the
/// hard one, marking it with `marker` so it does not try again; returns its success.
pub async fn rerun_with_raised_files_limit(marker: &str) -> anyhow::Result<bool> {
    let exe = std::env::current_exe().context("locating the bench executable")?;
    let status = Command::new("sh")
        .arg("-c")
        .arg(RAISE_FILES_THEN_EXEC)
        .arg(exe)
        .args(std::env::args_os().skip(1))
        .env(marker, "1")
        .status()
        .await
        .context("running the bench again with a raised open-files limit")?;
    Ok(status.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_is_read_from_the_banner() {
        assert_eq!(
            listening_address("Almahira Hub listening on http://127.0.0.1:40123 (Postgres)\n"),
            Some("127.0.0.1:40123".to_owned())
        );
        assert_eq!(listening_address("  landing page   http://x/"), None);
    }

    #[test]
    fn memory_and_file_limits_are_read_from_proc_texts() {
        let status = "Name:\thub\nVmPeak:\t  9000 kB\nVmRSS:\t   12345 kB\nThreads:\t3\n";
        assert_eq!(vm_rss_kib(status), Some(12345));
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(open_files_soft_limit(limits), Some(1024));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(open_files_soft_limit(unlimited), None);
    }
}
