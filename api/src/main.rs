//! `loam`: the API server and its operator commands.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use loam_api::server::{self, Server};
use loam_config::Config;

/// Loam: backend for environmental sensor networks (ENTS-compatible).
///
/// With no configuration it serves on 127.0.0.1:8000 from a SQLite file in ./loam-data.
#[derive(Parser)]
#[command(name = "loam", version, about, long_about)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage people's accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Exit 0 when the server at LOAM_LISTEN answers `GET /healthz` (for container healthchecks).
    Healthcheck,
    /// Export cells to a ZIP (one CSV per cell and series), with a progress bar.
    Export(loam_api::cli::ExportArgs),
    /// Import historical CSV files (the ENTS sample format) into a cell, each all or nothing.
    Import(loam_api::cli::ImportArgs),
    /// Back up the database (consistently, while the server runs), the data directory and the
    /// artifacts into a new folder.
    Backup(loam_api::backup::BackupArgs),
    /// Restore a backup into a fresh data directory and an empty database.
    Restore(loam_api::backup::RestoreArgs),
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account (works with registration closed; the first operator needs it).
    Create {
        /// Sign-in email.
        #[arg(long)]
        email: String,
        /// Read the password from the first line of standard input (keeps it out of `ps`).
        #[arg(long)]
        password_stdin: bool,
        /// Make the account an administrator.
        #[arg(long)]
        admin: bool,
        /// Given name.
        #[arg(long)]
        first_name: Option<String>,
        /// Family name.
        #[arg(long)]
        last_name: Option<String>,
    },
    #[command(flatten)]
    Admin(loam_api::cli_users::UserAdminCommand),
}

fn main() -> ExitCode {
    loam_alloc::return_freed_memory_promptly();
    let cli = Cli::parse();
    loam_telemetry::init(cli.config.log_format, &cli.config.log_filter);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return fail(&anyhow::Error::from(err)),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&err),
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let state = server::build_state(cli.config).await?;
            let server = Server::bind(state).await?;
            server.announce()?;
            server.serve_until(loam_telemetry::shutdown_signal()).await
        }
        Command::User(UserCommand::Create {
            email,
            password_stdin,
            admin,
            first_name,
            last_name,
        }) => {
            anyhow::ensure!(
                password_stdin,
                "pass --password-stdin and the password on standard input"
            );
            let mut password = String::new();
            std::io::stdin().read_line(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']);
            anyhow::ensure!(
                password.chars().count() >= 10,
                "the password must be at least 10 characters"
            );
            anyhow::ensure!(email.contains('@'), "--email must be an email address");
            cli.config.validate()?;
            cli.config.ensure_data_dir()?;
            let db = loam_db::open_for_command(&cli.config).await?;
            let user = loam_api::accounts::create_user(
                &db,
                &email,
                password,
                first_name.as_deref(),
                last_name.as_deref(),
                admin,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "created {} ({}){}",
                user.email,
                user.id,
                if admin { " as an administrator" } else { "" }
            );
            Ok(())
        }
        Command::User(UserCommand::Admin(command)) => {
            loam_api::cli_users::run(&cli.config, command).await
        }
        Command::Healthcheck => loam_telemetry::probes::http_ok(cli.config.listen, "/healthz")
            .await
            .map_err(anyhow::Error::msg),
        Command::Export(args) => loam_api::cli::export(&cli.config, args).await,
        Command::Import(args) => loam_api::cli::import(&cli.config, args).await,
        Command::Backup(args) => loam_api::backup::backup(&cli.config, args).await,
        Command::Restore(args) => loam_api::backup::restore(&cli.config, args).await,
        Command::Migrate => {
            cli.config.validate()?;
            cli.config.ensure_data_dir()?;
            loam_db::open_for_command(&cli.config).await?;
            tracing::info!("the database is up to date");
            Ok(())
        }
    }
}

/// Bad configuration or a failed start: one clear line on stderr, no backtrace.
fn fail(err: &anyhow::Error) -> ExitCode {
    eprintln!("loam: error: {err:#}");
    // 1, not 2: Docker reserves 2 for healthchecks, and shells read 2 as a usage error.
    ExitCode::from(1)
}
