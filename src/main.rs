use clap::Parser;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    switchboard::telemetry::init();
    let cli = switchboard::cli::Cli::parse();
    match switchboard::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchboard: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
