//! The `hub` binary: reads settings, starts the hub and serves until Ctrl-C or SIGTERM.

use std::process::ExitCode;

use hub::{app::Application, config::Settings, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match Settings::from_args_and_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("hub: {error:#}");
            return ExitCode::from(2);
        }
    };
    telemetry::init_tracing(settings.log_format);
    match run(settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line on stderr, not also a log record: this is what an operator reads.
            eprintln!("hub: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(settings: Settings) -> anyhow::Result<()> {
    let store = match &settings.database_url {
        Some(url) if url.starts_with("postgres") => "Postgres",
        _ => "embedded SQLite",
    };
    let app = Application::build(settings).await?;
    let address = app.address();
    let host = if address.ip().is_unspecified() {
        format!("localhost:{}", address.port())
    } else {
        address.to_string()
    };
    // Tests and scripts read this line to find the port when started with --http ...:0.
    println!("Almahira Hub listening on http://{address} ({store})");
    println!("  landing page   http://{host}/");
    println!("  API reference  http://{host}/api/v1/docs");
    println!("  API document   http://{host}/api/v1/openapi.json");
    println!("  metrics        http://{host}/metrics");
    if let Some(mqtt) = app.mqtt_address() {
        // Tests and scripts read this line to find the MQTT port when started with --mqtt ...:0.
        println!("  devices (MQTT) mqtt://{mqtt}");
    }
    if !app.has_venues() {
        println!(
            "No venue yet: create the first one with POST /api/v1/setup (see docs/api.md), or start with --demo."
        );
    }
    if let Some(demo) = app.demo() {
        let how = if demo.seeded { "seeded" } else { "present" };
        println!(
            "Demo venue {:?} (slug {}) {how}. Logins:",
            demo.name, demo.slug
        );
        for login in &demo.logins {
            match (login.pin, login.username, login.password) {
                (Some(pin), _, _) => println!(
                    "  {:<8} {:<16} PIN {pin}   POST /api/v1/auth/login {{\"venue\":\"{}\",\"pin\":\"{pin}\"}}",
                    login.role.as_str(),
                    login.name,
                    demo.slug
                ),
                (None, Some(user), Some(password)) => println!(
                    "  {:<8} {:<16} username {user} / password {password}",
                    login.role.as_str(),
                    login.name
                ),
                _ => {}
            }
        }
    }
    app.run_until(shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
