//! Command-line interface: a thin layer over the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use corpusforge::{config, inspect, runner};

/// Declarative pretraining-corpus pipelines: clean, filter, deduplicate, tokenize, train.
#[derive(Parser)]
#[command(name = "corpusforge", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a pipeline: read, apply the stages, write the datasets, manifest and stats.
    Run {
        /// The pipeline YAML.
        pipeline: PathBuf,
        /// Output directory (instead of `output.dir`).
        #[arg(long)]
        output: Option<PathBuf>,
        /// Worker threads (instead of `run.threads`; 0 = one per core).
        #[arg(long)]
        threads: Option<usize>,
        /// Continue an interrupted run from its last checkpoint.
        #[arg(long)]
        resume: bool,
    },
    /// Check a pipeline YAML and list every problem.
    Validate {
        /// The pipeline YAML.
        pipeline: PathBuf,
    },
    /// Print the JSON Schema of the pipeline YAML.
    Schema,
    /// Show a parquet shard: schema, row count, first rows.
    Inspect {
        /// The parquet file.
        shard: PathBuf,
        /// How many rows to show.
        #[arg(long, default_value_t = 5)]
        rows: usize,
    },
}

/// Exit code for an invalid pipeline config.
const EXIT_CONFIG: u8 = 2;

fn load(pipeline: &Path) -> Result<config::Pipeline, ExitCode> {
    config::load_file(pipeline).map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(EXIT_CONFIG)
    })
}

fn base_dir(pipeline: &Path) -> PathBuf {
    pipeline.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Entry point: parses arguments, runs the command, maps errors to exit codes.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CORPUSFORGE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    let result = match cli.command {
        Command::Validate { pipeline } => match load(&pipeline) {
            Ok(p) => {
                println!("{}: ok ({} stages)", pipeline.display(), p.stages.len());
                Ok(())
            }
            Err(code) => return code,
        },
        Command::Schema => {
            println!("{}", serde_json::to_string_pretty(&config::json_schema()).unwrap_or_default());
            Ok(())
        }
        Command::Inspect { shard, rows } => inspect::inspect(&shard, rows, &mut std::io::stdout().lock())
            .with_context(|| format!("inspecting {}", shard.display())),
        Command::Run { pipeline, output, threads, resume } => {
            let p = match load(&pipeline) {
                Ok(p) => p,
                Err(code) => return code,
            };
            let opts = runner::RunOptions { output, threads, resume, progress: true, ..Default::default() };
            run(&p, &base_dir(&pipeline), &opts)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(p: &config::Pipeline, base: &Path, opts: &runner::RunOptions) -> anyhow::Result<()> {
    let s = runner::run(p, base, opts)?;
    if s.already_complete {
        println!("{}: already complete, nothing to do", s.out_dir.display());
    }
    let st = &s.stats;
    println!(
        "{} records: {} kept, {} dropped, {} rejected ({:.1} MB in, {:.1} MB kept) in {:.2}s -> {}",
        st.input,
        st.kept,
        st.dropped_total(),
        st.rejected_total(),
        st.input_bytes as f64 / 1e6,
        st.kept_bytes as f64 / 1e6,
        st.seconds,
        s.out_dir.display()
    );
    for stage in &st.stages {
        let reasons: Vec<String> = stage.dropped.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!(
            "  [{}] {:<18} seen {:>9} kept {:>9} {}",
            stage.index,
            stage.kind,
            stage.seen,
            stage.kept,
            reasons.join(" ")
        );
    }
    Ok(())
}
