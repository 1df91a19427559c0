//! Load programs that print figures for the hub, each with a baseline measured in the same run.
//! This file only parses the command line and dispatches; every program lives in its own
//! module and starts (and cleans up after) its own hubs and databases.
//!
//! # Layout
//! - [`commands`]: order throughput and latency, group commit against one transaction per
//!   command.
//! - [`server`]: a real hub running in this process; [`database`]: throw-away databases.
//! - [`latency`]: percentile summaries.

mod commands;
mod database;
mod latency;
mod server;

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
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let program = async {
        match cli.program {
            Program::Commands(args) => commands::run(args).await,
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
