//! The `firmware-sim` command: parses the command line, runs the fleet, prints the
//! summary (JSON on stdout with `--json`). Everything else is in the library.

use std::process::ExitCode;

use clap::Parser;
use firmware_sim::config::{Cli, SimConfig};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    let outcome = async {
        let config = SimConfig::from_cli(cli)?;
        let summary = firmware_sim::run(config).await?;
        if json {
            println!("{}", serde_json::to_string_pretty(&summary)?);
        } else {
            eprintln!("{}", summary.human());
        }
        anyhow::Ok(())
    };
    match outcome.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("firmware-sim: {error:#}");
            ExitCode::FAILURE
        }
    }
}
