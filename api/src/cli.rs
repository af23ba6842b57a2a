//! The command line: `serve` (default), `migrate`, `openapi`, `user create`, `keys rotate`.

use std::io::BufRead;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use sea_orm::{ActiveModelTrait, Set};

use crate::config::{SecretKeyMaterial, Settings};
use crate::domain::{AccountKind, Role};
use crate::secrets::{MasterKey, write_key_file};
use crate::services::accounts::NewAccount;
use crate::services::{Actor, AppContext};
use crate::startup::{Application, load_master_key, openapi_spec, redacted_database_url};

#[derive(Debug, Parser)]
#[command(
    name = "tributary",
    version,
    about = "Self-hosted multi-user portfolio data server"
)]
pub struct Cli {
    /// Path to a TOML config file (also TRIBUTARY_CONFIG).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API server (the default).
    Serve {
        /// Seed a demo user with two DEMO accounts and print its login.
        #[arg(long)]
        demo: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Print the OpenAPI document.
    Openapi,
    /// Print the GraphQL schema (SDL).
    GraphqlSchema,
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage the master key.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user (works even when registration is disabled). The password is read from
    /// TRIBUTARY_USER_PASSWORD or the first line of standard input.
    Create {
        #[arg(long)]
        email: String,
        /// Make the user an administrator.
        #[arg(long)]
        admin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Re-encrypt every stored integration secret under a new master key.
    Rotate {
        /// The new key (base64 of 32 bytes); generated when omitted.
        #[arg(long, env = "TRIBUTARY_NEW_SECRET_KEY", hide_env_values = true)]
        new_key: Option<String>,
    },
}

async fn open(settings: &Settings) -> anyhow::Result<AppContext> {
    let key = load_master_key(settings)?;
    let db = crate::db::connect(settings).await?;
    crate::db::migrate(&db).await?;
    Ok(AppContext::new(
        std::sync::Arc::new(settings.clone()),
        db,
        key,
    ))
}

/// Runs a parsed command line.
///
/// # Errors
/// Configuration, database or I/O failures, with a message naming the cause.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref())?;
    crate::telemetry::init(&settings.log);
    match cli.command.unwrap_or(Command::Serve { demo: false }) {
        Command::Serve { demo } => serve(settings, demo).await,
        Command::Migrate => {
            let db = crate::db::connect(&settings).await?;
            crate::db::migrate(&db).await?;
            println!("migrations applied to {}", redacted_database_url(&settings));
            Ok(())
        }
        Command::Openapi => {
            println!("{}", openapi_spec().to_pretty_json()?);
            Ok(())
        }
        Command::GraphqlSchema => {
            print!("{}", crate::graphql::sdl());
            Ok(())
        }
        Command::User {
            command: UserCommand::Create { email, admin },
        } => {
            let password = match std::env::var("TRIBUTARY_USER_PASSWORD") {
                Ok(p) if !p.is_empty() => p,
                _ => {
                    eprintln!("password (min. 12 characters), then Enter:");
                    let mut line = String::new();
                    std::io::stdin().lock().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            let ctx = open(&settings).await?;
            let role = if admin { Role::Admin } else { Role::User };
            let user = ctx.auth().create_user(&email, &password, role).await?;
            println!(
                "created {} user {} ({})",
                role.as_str(),
                user.email,
                user.id
            );
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::Rotate { new_key },
        } => rotate_keys(&settings, new_key).await,
    }
}

async fn serve(settings: Settings, demo: bool) -> anyhow::Result<()> {
    let host = settings.server.host;
    let db_url = redacted_database_url(&settings);
    let app = Application::build(settings).await?;
    let base = format!("http://{host}:{}", app.port());
    if demo {
        let (email, password) = seed_demo(&app.context()).await?;
        println!("demo user: {email} / {password}");
    }
    tracing::info!(address = %base, database = %db_url, "tributary is listening");
    println!("Tributary listening on {base}");
    println!("  API docs (Swagger UI): {base}/api/docs/");
    println!("  OpenAPI document:      {base}/api/openapi.json");
    app.run_until_stopped().await?;
    tracing::info!("stopped");
    Ok(())
}

/// Creates (or resets) the demo user with two DEMO accounts, refreshed once.
///
/// # Errors
/// Database failures.
pub async fn seed_demo(ctx: &AppContext) -> anyhow::Result<(String, String)> {
    let email = "demo@tributary.local".to_string();
    let password = format!("demo-{}", &crate::auth::tokens::random_secret()[..12]);
    let user = match crate::repo::users::find_by_email(&ctx.db, &email).await? {
        Some(existing) => {
            let hash =
                crate::auth::password::hash(secrecy::SecretString::from(password.clone())).await?;
            let mut m: tributary_entity::user::ActiveModel = existing.clone().into();
            m.password_hash = Set(hash);
            m.update(&ctx.db).await?;
            println!("demo user exists; its password was reset");
            return Ok((email, password));
        }
        None => {
            ctx.auth()
                .create_user(&email, &password, Role::User)
                .await?
        }
    };
    let actor = Actor {
        user_id: user.id,
        ip: None,
    };
    for (name, kind, seed, profile) in [
        ("Demo brokerage", AccountKind::Brokerage, 42, "balanced"),
        ("Demo crypto", AccountKind::Crypto, 7, "crypto"),
    ] {
        let account = ctx
            .accounts()
            .create(
                &actor,
                NewAccount {
                    name: name.to_string(),
                    kind,
                    currency: "USD".to_string(),
                    institution: Some("Tributary demo broker".to_string()),
                    notes: None,
                },
            )
            .await?;
        ctx.integrations()
            .set(
                &actor,
                account.id,
                "DEMO",
                serde_json::json!({ "seed": seed, "profile": profile }),
            )
            .await?;
        ctx.integrations()
            .refresh(&actor, account.id, "manual")
            .await?;
    }
    Ok((email, password))
}

async fn rotate_keys(settings: &Settings, new_key: Option<String>) -> anyhow::Result<()> {
    let old = load_master_key(settings)?;
    let new = match new_key {
        Some(b64) => MasterKey::new(
            SecretKeyMaterial::from_base64(&b64).map_err(|m| anyhow::anyhow!("--new-key {m}"))?,
        ),
        None => MasterKey::generate(),
    };
    if new.id() == old.id() {
        anyhow::bail!("the new key is the current key");
    }
    let db = crate::db::connect(settings).await?;
    crate::db::migrate(&db).await?;
    let from_env = settings.secret_key.is_some();
    let key_path = settings.secret_key_path();
    let staged = key_path.with_extension("key.new");
    if !from_env {
        // Write the new key before touching the database, so a crash never leaves secrets
        // sealed under a key that exists nowhere.
        let _ = std::fs::remove_file(&staged);
        write_key_file(&staged, &new)?;
    }
    let count = crate::services::keys::rotate(&db, &old, &new).await?;
    if from_env {
        println!(
            "re-encrypted {count} integration configs from key {} to key {}",
            old.id(),
            new.id()
        );
        println!("set TRIBUTARY_SECRET_KEY to the new key before the next start:");
        println!("{}", new.to_base64());
    } else {
        let backup = key_path.with_extension(format!("key.{}.bak", old.id()));
        std::fs::rename(&key_path, &backup)?;
        std::fs::rename(&staged, &key_path)?;
        println!(
            "re-encrypted {count} integration configs from key {} to key {}; old key kept at {}",
            old.id(),
            new.id(),
            backup.display()
        );
    }
    Ok(())
}
