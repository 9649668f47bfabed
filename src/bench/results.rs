//! What a bench run leaves behind: `bench/results/*.json`, each with the machine it ran on and
//! the command that ran it, and `bench --report`, which makes the README's table from them so
//! that no figure is typed by hand.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::RunResult;

/// The machine a result was measured on, read from /proc (Linux) where it can be.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub os: String,
}

impl Machine {
    pub fn describe() -> Self {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let cpu = read("/proc/cpuinfo")
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_else(|| "unknown".into());
        let memory_gib = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map(|kb| (kb / 1024.0 / 1024.0 * 10.0).round() / 10.0)
            .unwrap_or(0.0);
        let os = read("/etc/os-release")
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|v| v.trim_matches('"').to_owned())
            .unwrap_or_else(|| std::env::consts::OS.into());
        Self {
            cpu,
            cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            memory_gib,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            os,
        }
    }
}

/// Every run at one rate, and which of them stands for the rate: the median by alert-to-page
/// p99, so that every figure in a row comes from one real run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RateResult {
    pub rate: u32,
    /// A majority of the runs had no errors, paged every accepted press, and kept the
    /// alert-to-page p99 under the knee's limit.
    pub passed: bool,
    pub median_run: RunResult,
    pub runs: Vec<RunResult>,
}

/// One `bench` invocation's results file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResultsFile {
    pub backend: String,
    pub command: String,
    pub git_commit: Option<String>,
    pub finished_at: chrono::DateTime<chrono::Utc>,
    pub machine: Machine,
    /// The gateway's database round trips delayed by this much each way (`--db-latency`).
    pub db_latency_ms: Option<f64>,
    /// With `--find-knee`: the highest rate that passed, and the limit it was held to.
    pub knee: Option<u32>,
    pub knee_p99_limit_ms: f64,
    /// How many customers the presses came from (older files: one).
    #[serde(default = "one")]
    pub customers: u32,
    pub rates: Vec<RateResult>,
}

fn one() -> u32 {
    1
}

impl ResultsFile {
    /// Writes `dir/<backend>-<what>-<time>.json` and returns its path.
    pub fn write(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let what = match (self.knee, self.rates.first()) {
            (Some(_), _) => "knee".to_owned(),
            (None, Some(r)) => format!("{}-per-s", r.rate),
            (None, None) => "empty".to_owned(),
        };
        let latency = self
            .db_latency_ms
            .map(|ms| format!("-latency-{ms}ms"))
            .unwrap_or_default();
        let customers = match self.customers {
            1 => String::new(),
            n => format!("-{n}-customers"),
        };
        let path = dir.join(format!(
            "{}-{what}{latency}{customers}-{}.json",
            self.backend.to_lowercase(),
            self.finished_at.format("%Y%m%dT%H%M%SZ")
        ));
        std::fs::write(&path, serde_json::to_string_pretty(self)? + "\n")?;
        Ok(path)
    }
}

/// The git commit of the working directory, when there is one.
pub fn git_commit() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A Markdown table of every results file in `dir`, oldest first: the README's benchmark
/// table is this output, pasted.
pub fn report(dir: &Path) -> anyhow::Result<String> {
    let mut files: Vec<(PathBuf, ResultsFile)> = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path)?;
            let parsed: ResultsFile = serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            files.push((path, parsed));
        }
    }
    files.sort_by_key(|(_, f)| f.finished_at);
    let mut out = String::from(
        "| file | database | rate | passed | accepted p50 / p99 | alert-to-page p50 / p99 / max | \
         ack p50 / p99 | errors | pages | peak RSS | CPU gateway / bench |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for (path, file) in &files {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let mut database = match file.db_latency_ms {
            Some(ms) => format!("{} (+{ms} ms each way)", file.backend),
            None => file.backend.clone(),
        };
        if file.customers > 1 {
            database.push_str(&format!(", {} customers", file.customers));
        }
        for rate in &file.rates {
            let r = &rate.median_run;
            let knee = if file.knee == Some(rate.rate) {
                " **knee**"
            } else {
                ""
            };
            out.push_str(&format!(
                "| {name} | {database} | {}/s{knee} | {} of {} | {:.1} / {:.1} ms | {:.1} / {:.1} / {:.1} ms | {:.1} / {:.1} ms | {} | {}/{} | {} | {} |\n",
                rate.rate,
                rate.runs.iter().filter(|run| run.passes(file.knee_p99_limit_ms)).count(),
                rate.runs.len(),
                r.accepted.p50,
                r.accepted.p99,
                r.to_page.p50,
                r.to_page.p99,
                r.to_page.max,
                r.ack.p50,
                r.ack.p99,
                r.errors_described(),
                r.pages_received,
                r.pages_expected,
                r.peak_rss_mib
                    .map(|m| format!("{m:.0} MiB"))
                    .unwrap_or_else(|| "?".into()),
                match (r.gateway_cores, r.bench_cores) {
                    (Some(g), Some(b)) => format!("{g:.2} / {b:.2} cores"),
                    _ => "?".into(),
                },
            ));
        }
    }
    if let Some((_, last)) = files.last() {
        let m = &last.machine;
        out.push_str(&format!(
            "\nMachine: {} ({} cores, {} GiB), {}, Linux {}.\n",
            m.cpu, m.cores, m.memory_gib, m.os, m.kernel
        ));
    }
    Ok(out)
}
