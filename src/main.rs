//! The `panic-gateway` command: `serve` (the default), `migrate`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use panic_gateway::auth;
use panic_gateway::config::{Settings, Sources};
use panic_gateway::phone::{press_body, Phone, Session};
use panic_gateway::startup::Application;
use panic_gateway::store::Store;
use panic_gateway::telemetry;

#[derive(Parser)]
#[command(name = "panic-gateway", version, about)]
struct Cli {
    /// TOML settings file (default: ./panic-gateway.toml when present).
    #[arg(long, global = true, env = "PANIC_GATEWAY_CONFIG")]
    config: Option<PathBuf>,
    /// Database URL, overriding the file and environment.
    #[arg(long, global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (the default).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Bootstrap administration without the HTTP API.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// A self-contained demo: mock APNs/FCM in-process, seeded data, simulated phones.
    Demo {
        /// Port to serve on.
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Working directory (wiped at start): database, mock keys, demo-env.sh.
        #[arg(long, default_value = "panic-gateway-demo")]
        dir: PathBuf,
    },
    /// A simulated phone for scripts and load tests.
    #[command(subcommand)]
    Simulate(SimulateCommand),
    /// Measure: presses at a fixed rate against a gateway child process and mock providers.
    Bench {
        /// Presses per second.
        #[arg(long, default_value_t = 500)]
        rate: u32,
        /// Seconds of load.
        #[arg(long, default_value_t = 60)]
        seconds: u32,
        /// Simulated customer phones.
        #[arg(long, default_value_t = 50)]
        devices: u32,
        /// Working directory (wiped at start).
        #[arg(long, default_value = "panic-gateway-bench")]
        dir: PathBuf,
    },
}

#[derive(Args, Clone)]
struct PhoneState {
    /// Where the phone keeps its session (tokens: keep it private).
    #[arg(long, default_value = "phone.json")]
    state: PathBuf,
}

#[derive(Subcommand, Clone)]
enum SimulateCommand {
    /// Enroll with a one-time code and save the session.
    Enroll {
        #[arg(long)]
        url: String,
        #[arg(long)]
        code: String,
        #[arg(long, default_value = "ios")]
        platform: String,
        #[arg(long)]
        push_token: Option<String>,
        #[command(flatten)]
        phone: PhoneState,
    },
    /// Press the panic button.
    Press {
        #[arg(long)]
        summary: String,
        #[arg(long)]
        service: String,
        #[arg(long)]
        production_down: bool,
        /// one, some, most or all
        #[arg(long, default_value = "all")]
        users: String,
        #[arg(long)]
        workaround: bool,
        /// Reuse to retry the same press; a new one is made otherwise.
        #[arg(long)]
        key: Option<String>,
        #[command(flatten)]
        phone: PhoneState,
    },
    /// Acknowledge an incident (responder phones).
    Ack {
        #[arg(long)]
        incident: String,
        #[command(flatten)]
        phone: PhoneState,
    },
    /// Resolve an incident (responder phones).
    Resolve {
        #[arg(long)]
        incident: String,
        #[command(flatten)]
        phone: PhoneState,
    },
    /// Show an incident and its timeline.
    Show {
        #[arg(long)]
        incident: String,
        #[command(flatten)]
        phone: PhoneState,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an admin API key and print it once (only its digest is stored).
    CreateKey {
        /// Who or what the key is for, shown in the audit log.
        #[arg(long)]
        name: String,
    },
    /// Issue a one-time enrollment code for a user and print it once.
    EnrollmentCode {
        /// The user's id.
        #[arg(long)]
        user: String,
    },
}

#[derive(Args, Default)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long)]
    host: Option<String>,
    /// Port to listen on.
    #[arg(long)]
    port: Option<u16>,
}

fn load_settings(cli: &Cli, serve: Option<&ServeArgs>) -> Result<Settings, String> {
    let mut overrides = Vec::new();
    if let Some(url) = &cli.database_url {
        overrides.push(("database.url".to_owned(), url.as_str().into()));
    }
    if let Some(args) = serve {
        if let Some(host) = &args.host {
            overrides.push(("server.host".to_owned(), host.as_str().into()));
        }
        if let Some(port) = args.port {
            overrides.push(("server.port".to_owned(), port.into()));
        }
    }
    let settings = Settings::load(&Sources {
        file: cli.config.clone(),
        environment: true,
        overrides,
    })
    .map_err(|e| e.to_string())?;
    if serve.is_some() {
        settings.validate_for_serving().map_err(|e| e.to_string())?;
    }
    Ok(settings)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_serve = ServeArgs::default();
    let serve_args = match &cli.command {
        None => Some(&default_serve),
        Some(Command::Serve(args)) => Some(args),
        Some(Command::Migrate) | Some(Command::Admin(_)) => None,
        Some(Command::Simulate(command)) => {
            return match simulate(command.clone()).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("panic-gateway simulate: {e:#}");
                    ExitCode::FAILURE
                }
            };
        }
        Some(Command::Demo { .. }) => None,
        Some(Command::Bench {
            rate,
            seconds,
            devices,
            dir,
        }) => {
            let opts = panic_gateway::bench::BenchOptions {
                database_url: cli.database_url.clone(),
                rate: *rate,
                seconds: *seconds,
                devices: *devices,
                dir: dir.clone(),
            };
            return match panic_gateway::bench::run(opts).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("panic-gateway bench: {e:#}");
                    ExitCode::FAILURE
                }
            };
        }
    };
    let settings = match load_settings(&cli, serve_args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("panic-gateway: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&settings.log);
    let result = match cli.command {
        None | Some(Command::Serve(_)) => serve(settings).await,
        Some(Command::Migrate) => migrate(settings).await,
        Some(Command::Admin(command)) => admin(settings, command).await,
        Some(Command::Demo { port, dir }) => panic_gateway::demo::run(&dir, port).await,
        Some(Command::Simulate(_)) | Some(Command::Bench { .. }) => {
            unreachable!("handled before settings are loaded")
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "panic-gateway failed");
            eprintln!("panic-gateway: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings.clone()).await?;
    tracing::info!(
        address = %format!("{}:{}", settings.server.host, app.port()),
        database = app.store().backend().name(),
        "panic-gateway listening"
    );
    app.run_until_stopped().await
}

async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let store = Store::connect(&settings.database).await?;
    store.migrate().await?;
    let state = store.migration_state().await?;
    tracing::info!(version = state.applied, "database migrated");
    store.close().await;
    Ok(())
}

async fn admin(settings: Settings, command: AdminCommand) -> anyhow::Result<()> {
    let store = Store::connect(&settings.database).await?;
    store.migrate().await?;
    let now = chrono::Utc::now();
    match command {
        AdminCommand::CreateKey { name } => {
            let (id, key) = auth::create_admin_key(&store, &name, now).await?;
            eprintln!("admin key {id} created for {name:?}; it is shown once, store it now:");
            println!("{key}");
        }
        AdminCommand::EnrollmentCode { user } => {
            if store.user(&user).await?.is_none() {
                anyhow::bail!("no user {user}");
            }
            let ttl = chrono::Duration::hours(settings.auth.enrollment_code_ttl_hours as i64);
            let (code, expires_at) =
                auth::issue_enrollment_code(&store, &user, ttl, "cli", now).await?;
            eprintln!("enrollment code for user {user}, valid once until {expires_at}:");
            println!("{}", code.display());
        }
    }
    store.close().await;
    Ok(())
}

fn load_phone(state: &PhoneState) -> anyhow::Result<Phone> {
    let text = std::fs::read_to_string(&state.state).map_err(|e| {
        anyhow::anyhow!("cannot read {}: {e} (enroll first)", state.state.display())
    })?;
    Ok(Phone::resume(serde_json::from_str::<Session>(&text)?))
}

fn save_phone(state: &PhoneState, phone: &Phone) -> anyhow::Result<()> {
    std::fs::write(&state.state, serde_json::to_string_pretty(&phone.session)?)?;
    Ok(())
}

fn print_answer((status, body): (u16, serde_json::Value)) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(&body)?);
    anyhow::ensure!(
        (200..300).contains(&status),
        "the gateway answered {status}"
    );
    Ok(())
}

async fn simulate(command: SimulateCommand) -> anyhow::Result<()> {
    match command {
        SimulateCommand::Enroll {
            url,
            code,
            platform,
            push_token,
            phone,
        } => {
            let token = push_token
                .unwrap_or_else(|| format!("{platform}-sim-{}", uuid::Uuid::new_v4().simple()));
            let enrolled = Phone::enroll(
                url.trim_end_matches('/'),
                &code,
                &platform,
                &token,
                "simulated phone",
            )
            .await?;
            save_phone(&phone, &enrolled)?;
            println!(
                "enrolled device {} for user {} ({}); session saved to {}",
                enrolled.session.device_id,
                enrolled.session.user_id,
                enrolled.session.role,
                phone.state.display()
            );
            Ok(())
        }
        SimulateCommand::Press {
            summary,
            service,
            production_down,
            users,
            workaround,
            key,
            phone,
        } => {
            let mut p = load_phone(&phone)?;
            let key = key.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            let body = press_body(&summary, &service, production_down, &users, workaround);
            let answer = p.press(&key, &body).await;
            save_phone(&phone, &p)?;
            print_answer(answer?)
        }
        SimulateCommand::Ack { incident, phone } => {
            let mut p = load_phone(&phone)?;
            let answer = p.acknowledge(&incident).await;
            save_phone(&phone, &p)?;
            print_answer(answer?)
        }
        SimulateCommand::Resolve { incident, phone } => {
            let mut p = load_phone(&phone)?;
            let answer = p.resolve(&incident).await;
            save_phone(&phone, &p)?;
            print_answer(answer?)
        }
        SimulateCommand::Show { incident, phone } => {
            let mut p = load_phone(&phone)?;
            let answer = p.incident(&incident).await;
            save_phone(&phone, &p)?;
            print_answer(answer?)
        }
    }
}
