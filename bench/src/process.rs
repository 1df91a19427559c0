//! Owns a real `hub` binary running as a child process for a benchmark, and the process
//! limits around it: the binary is found (and with cargo, built) next to the bench, started
//! on 127.0.0.1 with the demo venue and the open-files soft limit raised to the hard one,
//! read for its addresses (HTTP, and MQTT when asked for), memory and CPU time, and
//! killed when dropped, on success or error.
//! It must not interpret the hub's output beyond the address lines; log lines are kept for
//! the report.

use std::{
    collections::BTreeMap,
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
/// Distinct log messages counted (beyond these, lines are only counted in the total).
const COUNTED_MESSAGES: usize = 50;
/// Raises the soft open-files limit to the hard one (ignored where not allowed), then
/// becomes the program in `$0` with the remaining arguments.
const RAISE_FILES_THEN_EXEC: &str = r#"ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@""#;

/// How the hub's device side runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mqtt {
    /// `--mqtt off`: no broker.
    Off,
    /// The embedded broker on a free loopback port with the full bridge.
    Bridge,
    /// The embedded broker on a free loopback port, device messages only counted
    /// (`--mqtt-drain-only`, the devices benchmark's baseline).
    DrainOnly,
}

/// A hub child process; killed on drop.
pub struct HubProcess {
    child: Child,
    pid: u32,
    address: String,
    /// `127.0.0.1:<port>` of the embedded MQTT broker, when it was started.
    mqtt_address: Option<String>,
    /// Lines the hub printed after its banner (warnings and errors at `RUST_LOG=warn`).
    log: Arc<Mutex<Log>>,
    _data_dir: TempDir,
}

/// What the hub logged after its banner.
#[derive(Debug, Default)]
struct Log {
    /// The first lines, verbatim.
    first: Vec<String>,
    /// Every line, counted by its message (see [`message_of`]).
    by_message: BTreeMap<String, u64>,
    total: u64,
}

/// A log line's message for counting: without its leading timestamp, every run of digits
/// (ids, ports, times) as `N`, so the same complaint about different connections counts
/// as one.
fn message_of(line: &str) -> String {
    let line = line.trim();
    let rest = match line.split_once(' ') {
        Some((first, rest)) if first.starts_with(|c: char| c.is_ascii_digit()) => rest,
        _ => line,
    };
    let mut message = String::with_capacity(rest.len());
    let mut in_digits = false;
    for c in rest.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                message.push('N');
            }
            in_digits = true;
        } else {
            message.push(c);
            in_digits = false;
        }
    }
    message
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
                // The devices baseline runs the hub with `--mqtt-drain-only`.
                "--features",
                "testkit",
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
    /// delivery alerts off, no HTTP connection caps but the open-files limit, no MQTT and
    /// warnings-only logs, and waits for its address.
    pub async fn start(binary: &Path, database_url: &str) -> anyhow::Result<Self> {
        Self::start_with(binary, database_url, Mqtt::Off, &[]).await
    }

    /// [`start`](Self::start) with the device side as `mqtt` says and `env` added to the
    /// hub's environment; with a broker, also waits for the banner's MQTT address.
    pub async fn start_with(
        binary: &Path,
        database_url: &str,
        mqtt: Mqtt,
        env: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        let data_dir = tempfile::Builder::new()
            .prefix("hub-bench-data-")
            .tempdir()
            .context("creating the hub's data directory")?;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(RAISE_FILES_THEN_EXEC)
            .arg(binary)
            .args(["--http", "127.0.0.1:0", "--demo", "--data-dir"])
            .arg(data_dir.path())
            .args(match mqtt {
                Mqtt::Off => &["--mqtt", "off"][..],
                Mqtt::Bridge => &["--mqtt", "127.0.0.1:0"][..],
                Mqtt::DrainOnly => &["--mqtt", "127.0.0.1:0", "--mqtt-drain-only"][..],
            })
            .env("DATABASE_URL", database_url)
            .env("HUB_DELIVERY_ALERT_SECONDS", "0")
            // Every bench client comes from 127.0.0.1 and the screens benchmark holds up to
            // 20 000 sockets: no per-address cap, and the open-files limit (raised to the
            // hard one) is what bounds the hub, with the bench's own spare as reserve.
            .env("HUB_HTTP_MAX_CONNECTIONS_PER_ADDRESS", "0")
            .env("HUB_HTTP_MAX_CONNECTIONS", "1000000")
            .env("HUB_HTTP_FD_RESERVE", "256")
            .env("RUST_LOG", "warn,rumqttd=off")
            .env("NO_COLOR", "1")
            .envs(env.iter().map(|(key, value)| (*key, value)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        // `exec` keeps the shell's process id, so this is the hub's.
        let pid = child.id().context("the hub exited at once")?;
        let log = Arc::new(Mutex::new(Log::default()));
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(keep_lines(BufReader::new(stderr), log.clone(), false));
        }
        let mut stdout = BufReader::new(child.stdout.take().context("the hub's stdout")?);
        let wants_mqtt = mqtt != Mqtt::Off;
        let addresses = tokio::time::timeout(START_TIMEOUT, async {
            let mut line = String::new();
            let mut address = None;
            loop {
                line.clear();
                if stdout.read_line(&mut line).await? == 0 {
                    return Ok::<_, std::io::Error>(None);
                }
                if address.is_none() {
                    address = listening_address(&line);
                    if address.is_some() && !wants_mqtt {
                        return Ok(address.map(|a| (a, None)));
                    }
                } else if let Some(mqtt) = mqtt_address(&line) {
                    return Ok(address.map(|a| (a, Some(mqtt))));
                } else if line.starts_with("Demo venue") {
                    // The devices line comes before the demo logins, or not at all.
                    return Ok(address.map(|a| (a, None)));
                }
            }
        })
        .await;
        let (address, mqtt_address) = match addresses {
            Ok(Ok(Some((address, mqtt_address)))) => (address, mqtt_address),
            Ok(Ok(None)) | Ok(Err(_)) => {
                let status = child.wait().await.ok();
                bail!(
                    "the hub stopped before listening ({status:?}); its last lines: {}",
                    tail(&log)
                );
            }
            Err(_) => bail!("the hub did not listen within {START_TIMEOUT:?}"),
        };
        if wants_mqtt && mqtt_address.is_none() {
            bail!(
                "the hub printed no `devices (MQTT)` line although it was started with a broker; \
                 its log: {}",
                tail(&log)
            );
        }
        // The banner's other lines (URLs, demo logins) are not log records.
        tokio::spawn(keep_lines(stdout, log.clone(), true));
        Ok(Self {
            child,
            pid,
            address,
            mqtt_address,
            log,
            _data_dir: data_dir,
        })
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// `127.0.0.1:<port>` of the embedded broker, when the hub was started with one.
    pub fn mqtt_address(&self) -> Option<&str> {
        self.mqtt_address.as_deref()
    }

    /// Resident memory of the hub now, in KiB, from `/proc/<pid>/status`.
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        Ok(self.memory()?.rss_kib)
    }

    /// Resident memory now and its peak, from `/proc/<pid>/status`.
    pub fn memory(&self) -> anyhow::Result<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .context("reading the hub's /proc status")?;
        Ok(Memory {
            rss_kib: status_kib(&status, "VmRSS:").context("no VmRSS in the hub's /proc status")?,
            peak_kib: status_kib(&status, "VmHWM:")
                .context("no VmHWM in the hub's /proc status")?,
        })
    }

    /// Starts the peak (`VmHWM`) over from the current resident memory, so a later peak
    /// belongs to what happened since (`echo 5 > /proc/<pid>/clear_refs`, Linux 4.0+).
    pub fn reset_peak_memory(&self) -> anyhow::Result<()> {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5")
            .context("resetting the hub's peak memory through /proc/<pid>/clear_refs")
    }

    /// CPU time (user + system) the hub has used so far.
    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        cpu_time(self.pid)
    }

    /// Log lines the hub printed after its banner (at most the first few).
    pub fn log(&self) -> Vec<String> {
        self.log
            .lock()
            .map(|log| log.first.clone())
            .unwrap_or_default()
    }

    /// Every log line the hub printed after its banner, counted by message (digits as
    /// `N`), most frequent first, with the total number of lines.
    pub fn log_counts(&self) -> (u64, Vec<(String, u64)>) {
        let Ok(log) = self.log.lock() else {
            return (0, Vec::new());
        };
        let mut counts: Vec<(String, u64)> = log
            .by_message
            .iter()
            .map(|(message, n)| (message.clone(), *n))
            .collect();
        counts.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        (log.total, counts)
    }

    /// Kills the hub and waits for it to exit.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

async fn keep_lines(
    reader: impl tokio::io::AsyncBufRead + Unpin,
    log: Arc<Mutex<Log>>,
    only_records: bool,
) {
    let mut lines = reader.lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if only_records && !(line.contains("WARN") || line.contains("ERROR")) {
            continue;
        }
        if let Ok(mut log) = log.lock() {
            log.total += 1;
            let message = message_of(&line);
            if log.by_message.len() < COUNTED_MESSAGES || log.by_message.contains_key(&message) {
                *log.by_message.entry(message).or_default() += 1;
            }
            if log.first.len() < KEPT_LINES {
                log.first.push(line);
            }
        }
    }
}

fn tail(log: &Arc<Mutex<Log>>) -> String {
    log.lock()
        .map(|log| log.first.join(" | "))
        .unwrap_or_default()
}

/// The address in the hub's `Almahira Hub listening on http://ADDR (store)` banner.
fn listening_address(line: &str) -> Option<String> {
    let rest = line.split_once("listening on http://")?.1;
    let address = rest.split_whitespace().next()?;
    Some(address.to_owned())
}

/// The `MQTT_ADDR` in the hub's `  devices (MQTT) mqtt://ADDR` banner line.
fn mqtt_address(line: &str) -> Option<String> {
    let rest = line.split_once("devices (MQTT) mqtt://")?.1;
    let address = rest.split_whitespace().next()?;
    Some(address.to_owned())
}

/// A process's resident memory, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: now.
    pub rss_kib: u64,
    /// `VmHWM`: the most it has been since the start or the last reset.
    pub peak_kib: u64,
}

/// A `/proc/<pid>/status` field in kB, e.g. `VmRSS:   12345 kB`.
fn status_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Clock ticks per second of `/proc/<pid>/stat` times: `USER_HZ`, which Linux fixes at 100
/// for what it shows user space on every architecture we run on.
const USER_HZ: u64 = 100;

/// CPU time (user + system) process `pid` has used, from `/proc/<pid>/stat`.
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    let ticks =
        stat_cpu_ticks(&stat).with_context(|| format!("no CPU times in /proc/{pid}/stat"))?;
    Ok(Duration::from_millis(ticks * 1000 / USER_HZ))
}

/// `utime + stime` (fields 14 and 15) of a `/proc/<pid>/stat` line. The command name in
/// field 2 is in parentheses and may hold spaces, so fields are counted after its `)`.
fn stat_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
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
        assert_eq!(
            mqtt_address("  devices (MQTT) mqtt://127.0.0.1:41883\n"),
            Some("127.0.0.1:41883".to_owned())
        );
        assert_eq!(mqtt_address("  metrics        http://x/metrics"), None);
    }

    #[test]
    fn log_lines_are_counted_by_message_whatever_the_time_and_ids() {
        let a = "2026-11-24T10:08:12.103681Z ERROR incoming{connection_id=7}: rumqttd: no-connection id 7 is already gone";
        let b = "2026-11-24T10:09:00.000001Z ERROR incoming{connection_id=12}: rumqttd: no-connection id 12 is already gone";
        assert_eq!(message_of(a), message_of(b));
        assert_eq!(
            message_of(a),
            "ERROR incoming{connection_id=N}: rumqttd: no-connection id N is already gone"
        );
        assert_eq!(message_of("hub: stopped"), "hub: stopped");
    }

    #[test]
    fn cpu_time_is_user_plus_system_ticks_even_with_spaces_in_the_name() {
        let stat = "4242 (tokio runtime) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 75 0 0 20 0 9 0 \
                    1234 567890 4321 18446744073709551615";
        assert_eq!(stat_cpu_ticks(stat), Some(325));
        assert_eq!(stat_cpu_ticks("4242 (hub) S 1"), None);
    }

    #[test]
    fn memory_and_file_limits_are_read_from_proc_texts() {
        let status = "Name:\thub\nVmPeak:\t  9000 kB\nVmRSS:\t   12345 kB\nThreads:\t3\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(12345));
        assert_eq!(status_kib(status, "VmHWM:"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(open_files_soft_limit(limits), Some(1024));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(open_files_soft_limit(unlimited), None);
    }
}
