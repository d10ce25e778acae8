//! Operators' account commands (`loam user list`, `grant-admin`, `disable`, …): the same rules
//! as the admin API, against the configured database, audited with the actor `cli`.

use std::io::BufRead;

use loam_config::Config;

use crate::admin::{Actor, Admin};

/// `loam user …` commands besides `create`.
#[derive(Debug, clap::Subcommand)]
pub enum UserAdminCommand {
    /// List accounts (optionally those whose email or name contains TEXT).
    List {
        /// Substring of the email, given or family name.
        #[arg(long)]
        search: Option<String>,
    },
    /// Make an account an administrator.
    GrantAdmin {
        /// The account's email.
        #[arg(long)]
        email: String,
    },
    /// Take administration away (refused for the last enabled administrator).
    RevokeAdmin {
        /// The account's email.
        #[arg(long)]
        email: String,
    },
    /// Disable an account: no sign-in, and its tokens and API keys stop working within 2 s.
    Disable {
        /// The account's email.
        #[arg(long)]
        email: String,
    },
    /// Enable a disabled account again.
    Enable {
        /// The account's email.
        #[arg(long)]
        email: String,
    },
    /// Set a new password (ends the account's sessions).
    SetPassword {
        /// The account's email.
        #[arg(long)]
        email: String,
        /// Read the password from the first line of standard input (keeps it out of `ps`).
        #[arg(long)]
        password_stdin: bool,
    },
}

/// Runs one command and prints what it did.
pub async fn run(config: &Config, command: UserAdminCommand) -> anyhow::Result<()> {
    // Read the password before touching the database, so a missing one fails fast.
    let password = match &command {
        UserAdminCommand::SetPassword { password_stdin, .. } => {
            anyhow::ensure!(
                *password_stdin,
                "pass --password-stdin and the password on standard input"
            );
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            let password = line.trim_end_matches(['\r', '\n']).to_owned();
            anyhow::ensure!(
                password.chars().count() >= 10,
                "the password must be at least 10 characters"
            );
            Some(password)
        }
        _ => None,
    };
    config.validate()?;
    config.ensure_data_dir()?;
    let db = loam_db::open_for_command(config).await?;
    let admin = Admin::cli(&db);
    let fail = |e: crate::error::ApiError| anyhow::anyhow!("{e}");
    match command {
        UserAdminCommand::List { search } => {
            let (users, total) = admin.list(search, 500, 0).await.map_err(fail)?;
            println!("{:<38} {:<32} {:<6} DISABLED", "ID", "EMAIL", "ADMIN");
            for user in &users {
                println!(
                    "{:<38} {:<32} {:<6} {}",
                    user.id,
                    user.email,
                    if user.is_admin { "yes" } else { "no" },
                    user.disabled_at
                        .map(|t| t.and_utc().to_rfc3339())
                        .unwrap_or_else(|| "-".into()),
                );
            }
            if total > users.len() as i64 {
                println!("({} of {total} shown; narrow with --search)", users.len());
            }
        }
        UserAdminCommand::GrantAdmin { email } => {
            let user = admin.by_email(&email).await.map_err(fail)?;
            admin
                .set_admin(Actor::Cli, &user.id, true)
                .await
                .map_err(fail)?;
            println!("{} is an administrator", user.email);
        }
        UserAdminCommand::RevokeAdmin { email } => {
            let user = admin.by_email(&email).await.map_err(fail)?;
            admin
                .set_admin(Actor::Cli, &user.id, false)
                .await
                .map_err(fail)?;
            println!("{} is no longer an administrator", user.email);
        }
        UserAdminCommand::Disable { email } => {
            let user = admin.by_email(&email).await.map_err(fail)?;
            admin
                .set_disabled(Actor::Cli, &user.id, true)
                .await
                .map_err(fail)?;
            println!("{} is disabled", user.email);
        }
        UserAdminCommand::Enable { email } => {
            let user = admin.by_email(&email).await.map_err(fail)?;
            admin
                .set_disabled(Actor::Cli, &user.id, false)
                .await
                .map_err(fail)?;
            println!("{} is enabled", user.email);
        }
        UserAdminCommand::SetPassword { email, .. } => {
            let user = admin.by_email(&email).await.map_err(fail)?;
            admin
                .set_password(
                    Actor::Cli,
                    &user.id,
                    password.as_deref().unwrap_or_default(),
                )
                .await
                .map_err(fail)?;
            println!("{}: new password set; every session ended", user.email);
        }
    }
    Ok(())
}
