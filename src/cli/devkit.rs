//! The developer kit's commands (`devkit` feature): `demo`, `simulate` (a phone for scripts)
//! and `bench`. None of them is compiled into a production build.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use panic_gateway::phone::{press_body, simulated_push_token, Phone, Session};

#[derive(Args)]
pub struct DemoArgs {
    /// Port to serve on.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Working directory (wiped at start): database, mock keys, demo-env.sh.
    #[arg(long, default_value = "panic-gateway-demo")]
    dir: PathBuf,
}

#[derive(Args)]
pub struct BenchArgs {
    /// Presses per second.
    #[arg(long, default_value_t = 500)]
    rate: u32,
    /// Seconds of load.
    #[arg(long, default_value_t = 60)]
    seconds: u32,
    /// Simulated customer phones.
    #[arg(long, default_value_t = 50)]
    devices: u32,
    /// Customers the devices belong to, each with its own account manager; presses go round
    /// them (on PostgreSQL, different customers are recorded in parallel lanes).
    #[arg(long, default_value_t = 1)]
    customers: u32,
    /// Working directory (wiped at start).
    #[arg(long, default_value = "panic-gateway-bench")]
    dir: PathBuf,
    /// Runs per rate, each on a fresh database and gateway; the median run is reported.
    #[arg(long, default_value_t = 3)]
    repeat: u32,
    /// Delay each direction of the gateway's database connections by this much, e.g. `1ms`
    /// or `500us` (PostgreSQL only): round trips then cost what they cost across a network.
    #[arg(long, value_parser = parse_latency)]
    db_latency: Option<std::time::Duration>,
    /// Search for the highest rate that passes (no errors, every press paged, alert-to-page
    /// p99 under --knee-p99-ms), starting from --rate.
    #[arg(long)]
    find_knee: bool,
    #[arg(long, default_value_t = 100.0)]
    knee_p99_ms: f64,
    /// Where the results file (JSON, with the machine and the command) is written.
    #[arg(long, default_value = "bench/results")]
    results_dir: PathBuf,
    /// Print the Markdown table of every results file in --results-dir, and run nothing.
    #[arg(long)]
    report: bool,
}

fn parse_latency(text: &str) -> Result<std::time::Duration, String> {
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map(|i| text.split_at(i))
        .ok_or_else(|| format!("{text:?}: give a unit, e.g. 1ms or 500us"))?;
    let n: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 1ms"))?;
    let micros = match unit {
        "us" | "µs" => n,
        "ms" => n * 1000.0,
        _ => return Err(format!("{text:?}: the unit must be ms or us")),
    };
    if !(0.0..=1_000_000.0).contains(&micros) {
        return Err(format!("{text:?}: between 0 and 1 s"));
    }
    Ok(std::time::Duration::from_micros(micros as u64))
}

#[derive(Args, Clone)]
pub struct PhoneState {
    /// Where the phone keeps its session (tokens: keep it private).
    #[arg(long, default_value = "phone.json")]
    state: PathBuf,
}

#[derive(Subcommand, Clone)]
pub enum SimulateCommand {
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

pub async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    panic_gateway::demo::run(&args.dir, args.port).await
}

/// The bench starts its own gateway child; `--database-url` picks the backend it measures.
pub async fn bench(args: BenchArgs, database_url: Option<String>) -> anyhow::Result<()> {
    if args.report {
        print!(
            "{}",
            panic_gateway::bench::results::report(&args.results_dir)?
        );
        return Ok(());
    }
    let command = std::env::args()
        .map(|a| match reqwest::Url::parse(&a) {
            // A password in a database URL stays out of the results file.
            Ok(mut url) if url.password().is_some() => {
                let _ = url.set_password(Some("***"));
                url.to_string()
            }
            _ => a,
        })
        .collect::<Vec<_>>()
        .join(" ");
    panic_gateway::bench::run(
        panic_gateway::bench::BenchOptions {
            database_url,
            rate: args.rate,
            seconds: args.seconds,
            devices: args.devices,
            customers: args.customers,
            dir: args.dir,
            repeat: args.repeat,
            db_latency: args.db_latency,
            find_knee: args.find_knee,
            knee_p99_limit_ms: args.knee_p99_ms,
            results_dir: args.results_dir,
        },
        command,
    )
    .await
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

pub async fn simulate(command: SimulateCommand) -> anyhow::Result<()> {
    match command {
        SimulateCommand::Enroll {
            url,
            code,
            platform,
            push_token,
            phone,
        } => {
            let token = push_token.unwrap_or_else(|| simulated_push_token(&platform));
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
