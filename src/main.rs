//! The `panic-gateway` command: clap's definitions and one dispatch. Each command's body lives
//! in `cli/`; the developer kit's commands (`demo`, `simulate`, `bench`) exist only when the
//! `devkit` feature is on, so a production build has no such subcommand to call.

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "panic-gateway", version, about)]
struct Cli {
    #[command(flatten)]
    global: cli::Global,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (the default).
    Serve(cli::serve::ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Bootstrap administration without the HTTP API.
    #[command(subcommand)]
    Admin(cli::admin::AdminCommand),
    /// Reconcile a gateway with an organisation file (configuration as code).
    Apply(cli::configuration::ApplyArgs),
    /// Print a gateway's organisation in the format `apply` reads.
    Export(cli::configuration::ExportArgs),
    /// A self-contained demo: mock APNs/FCM in-process, seeded data, simulated phones.
    #[cfg(feature = "devkit")]
    Demo(cli::devkit::DemoArgs),
    /// A simulated phone for scripts and load tests.
    #[cfg(feature = "devkit")]
    #[command(subcommand)]
    Simulate(cli::devkit::SimulateCommand),
    /// Measure: presses at a fixed rate against a gateway child process and mock providers.
    #[cfg(feature = "devkit")]
    Bench(cli::devkit::BenchArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let Cli { global, command } = Cli::parse();
    match command.unwrap_or_else(|| Command::Serve(Default::default())) {
        Command::Serve(args) => cli::with_settings(&global, Some(&args), cli::serve::run).await,
        Command::Migrate => cli::with_settings(&global, None, cli::admin::migrate).await,
        Command::Admin(command) => {
            cli::with_settings(&global, None, |settings| cli::admin::run(settings, command)).await
        }
        Command::Apply(args) => cli::standalone("apply", cli::configuration::apply(args)).await,
        Command::Export(args) => cli::standalone("export", cli::configuration::export(args)).await,
        #[cfg(feature = "devkit")]
        Command::Demo(args) => cli::with_settings(&global, None, |_| cli::devkit::demo(args)).await,
        #[cfg(feature = "devkit")]
        Command::Simulate(command) => {
            cli::standalone("simulate", cli::devkit::simulate(command)).await
        }
        #[cfg(feature = "devkit")]
        Command::Bench(args) => {
            cli::standalone("bench", cli::devkit::bench(args, global.database_url)).await
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    const DEVKIT: [&str; 3] = ["demo", "simulate", "bench"];

    /// The command list follows the feature: `cargo test` checks the kit's commands are there,
    /// and CI's `cargo test --no-default-features --bin panic-gateway` that a production build
    /// has none of them.
    #[test]
    fn the_developer_kit_commands_exist_only_with_the_feature() {
        Cli::command().debug_assert();
        let names: Vec<String> = Cli::command()
            .get_subcommands()
            .map(|c| c.get_name().to_owned())
            .collect();
        for always in ["serve", "migrate", "admin", "apply", "export"] {
            assert!(names.iter().any(|n| n == always), "{always} in {names:?}");
        }
        for kit in DEVKIT {
            assert_eq!(
                names.iter().any(|n| n == kit),
                cfg!(feature = "devkit"),
                "{kit} in {names:?}"
            );
        }
    }
}
