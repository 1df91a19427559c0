//! Load programs that print figures for the hub, each with a baseline measured in the same run.
//! This file only parses the command line and dispatches; every program lives in its own
//! module and starts (and cleans up after) its own hubs and databases.
//!
//! # Layout
//! - [`commands`]: order throughput and latency, group commit against one transaction per
//!   command, and the HTTP ceiling of a bare axum handler ([`ceiling`]).
//! - [`screens`]: live screens: frame latency, throughput and memory of a hub process with
//!   many subscribed screens, against a bare tokio-tungstenite broadcast ([`baseline`]).
//! - [`devices`]: simulated probes over MQTT: readings/s stored, CPU per message, memory
//!   and publish-to-alert latency of the bridge, against the same messages drained by a
//!   hub that only counts them; [`alarm`]: the timed alarm probes and their alert screen.
//! - [`service`]: a service night: the whole order life cycle over REST at several
//!   open-order levels, with screens subscribed.
//! - [`restart`]: time from process start to `/readyz` with a long journal, with and
//!   without a recent snapshot.
//! - [`server`]: a real hub running in this process; [`process`]: a real hub as a child
//!   process (address, memory, CPU time); [`database`]: throw-away databases.
//! - [`screen`]: the WebSocket screen client both screen rows use.
//! - [`latency`]: percentile summaries; [`metrics`]: the hub's Prometheus counters.

mod alarm;
mod baseline;
mod ceiling;
mod commands;
mod database;
mod devices;
mod latency;
mod metrics;
mod process;
mod restart;
mod screen;
mod screens;
mod server;
mod service;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "bench",
    about = "Load programs for the hub; each prints its figures next to a baseline from the same run"
)]
struct Cli {
    #[command(subcommand)]
    program: Program,
}

#[derive(Debug, Subcommand)]
enum Program {
    /// Open takeaway orders from concurrent waiters: group commit against one transaction
    /// per command, each on a fresh hub and database.
    Commands(commands::Args),
    /// Live screens: N screens subscribed to kds/expo/floor channels of a hub process while
    /// orders arrive at a steady rate; frame latency, frames/s and hub memory, then the same
    /// frames through a bare tokio-tungstenite server. Run it with
    /// `cargo run --release -p bench -- screens`: under cargo the `hub` binary is built
    /// first (same profile, same target directory); a bench started directly needs
    /// `cargo build --release -p hub -p bench` beforehand.
    Screens(screens::Args),
    /// Simulated probes over MQTT: N probes publishing at a rate through the hub's embedded
    /// broker, readings/s stored, hub CPU per message and memory, publish-to-alert-frame
    /// latency of a few alarm probes; then the same fleet through the same broker to a hub
    /// started with --mqtt-drain-only (counts and drops). Run it with
    /// `cargo run --release -p bench -- devices`.
    Devices(devices::Args),
    /// A service night: venues with subscribed screens and closed-loop waiters running the
    /// whole dine-in life cycle over REST, at several open-order levels in one run
    /// (`--open 50,500,5000`); per level commands/s, command and order-to-last-screen
    /// latency, hub CPU per command and RSS. Run it with
    /// `cargo run --release -p bench -- service`.
    Service(service::Args),
    /// Restart time with a long journal: N events (default 1,000,000) written through the
    /// engine, then the time from starting a hub process to `/readyz` 200 with the recent
    /// snapshot and with the snapshots deleted. Run it with
    /// `cargo run --release -p bench -- restart`.
    Restart(restart::Args),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let program = async {
        match cli.program {
            Program::Commands(args) => commands::run(args).await,
            Program::Screens(args) => screens::run(args).await,
            Program::Devices(args) => devices::run(args).await,
            Program::Service(args) => service::run(args).await,
            Program::Restart(args) => restart::run(args).await,
        }
    };
    // Stopping on Ctrl-C drops the running program, and with it the databases it created.
    let result = tokio::select! {
        result = program => result,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line with every cause; a backtrace would bury the reason.
            eprintln!("bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}
