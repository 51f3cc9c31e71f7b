//! `taglog-server`: parses flags and the optional config file, then runs the log server.

use clap::Parser as _;
use taglog_server::config::Settings;

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = match Settings::parse().with_file().and_then(Settings::resolve) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("taglog-server: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("taglog-server: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(taglog_server::run(config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("taglog-server: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
