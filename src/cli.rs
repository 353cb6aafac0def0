//! Command-line interface: a thin layer over the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use corpusforge::pipeline::{self, Event, RunOptions, RunSummary, TaskSpec};
use corpusforge::{config, distributed, inspect, report, train};

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
        /// Run only this task (0-based) of a run split into `--tasks` (a finished task is
        /// skipped; an interrupted one continues from its checkpoint).
        #[arg(long, requires = "tasks")]
        task: Option<usize>,
        /// Number of tasks the inputs are split into (by file, balanced by size).
        #[arg(long, requires = "task")]
        tasks: Option<usize>,
    },
    /// The dedup phases of a split run (signatures -> buckets -> cluster), before `run --task`.
    Dedup {
        #[command(subcommand)]
        phase: DedupCommand,
    },
    /// After all tasks of a split run: merge stats, tokenize all kept documents, train, report.
    Finalize {
        #[command(flatten)]
        split: SplitArgs,
    },
    /// Add up the stats of a split run's tasks, check the accounting, write OUT/stats.json.
    MergeStats {
        /// The run's output directory.
        out: PathBuf,
    },
    /// Write and submit Slurm job arrays for every phase of a run split into tasks.
    Slurm {
        /// The pipeline YAML.
        pipeline: PathBuf,
        /// Number of tasks (array size of the per-task phases).
        #[arg(long)]
        tasks: usize,
        /// Output directory (instead of `output.dir`); must be on a filesystem every node sees.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Slurm partition.
        #[arg(long)]
        partition: Option<String>,
        /// CPUs per task (and worker threads per task).
        #[arg(long, default_value_t = 1)]
        cpus_per_task: usize,
        /// Memory per task, e.g. `4G`.
        #[arg(long)]
        mem: Option<String>,
        /// Time limit per task, e.g. `02:00:00` or minutes.
        #[arg(long)]
        time: Option<String>,
        /// Slurm account.
        #[arg(long)]
        account: Option<String>,
        /// Another `#SBATCH` option for every job, e.g. `--sbatch-arg=--qos=high` (repeatable).
        #[arg(long = "sbatch-arg", allow_hyphen_values = true)]
        sbatch_arg: Vec<String>,
        /// Write the scripts and print the sbatch commands; submit nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Run every phase of a run split into tasks as Ray tasks on an existing Ray cluster.
    Ray {
        /// The pipeline YAML.
        pipeline: PathBuf,
        /// Number of tasks of the per-task phases.
        #[arg(long)]
        tasks: usize,
        /// Output (instead of `output.dir`): an `s3://` prefix, so the nodes share nothing
        /// else, or a directory every node sees.
        #[arg(long)]
        output: Option<PathBuf>,
        /// The Ray cluster (`auto`, `HOST:PORT`, `ray://HOST:PORT`); default `RAY_ADDRESS`.
        #[arg(long)]
        address: Option<String>,
        /// CPUs per task (and worker threads per task).
        #[arg(long, default_value_t = 1)]
        cpus_per_task: usize,
        /// Times Ray tries a failed task again.
        #[arg(long, default_value_t = 3)]
        retries: usize,
        /// The Python with the `ray` package (default `$CORPUSFORGE_PYTHON` or `python3`).
        #[arg(long)]
        python: Option<PathBuf>,
        /// The corpusforge binary the tasks run, at this path on every node (default: this one).
        #[arg(long)]
        binary: Option<PathBuf>,
    },
    /// Compare two run outputs by content (rows by id, tokenizer, stats); exit 1 if they differ.
    Diff {
        /// One output directory.
        a: PathBuf,
        /// The other.
        b: PathBuf,
    },
    /// Check a pipeline YAML and list every problem.
    Validate {
        /// The pipeline YAML.
        pipeline: PathBuf,
    },
    /// Print the JSON Schema of the pipeline YAML (or, with --experiment, of the experiment
    /// file of `ablate`).
    Schema {
        /// The experiment file's schema instead.
        #[arg(long)]
        experiment: bool,
    },
    /// Train equal-budget models on variants (arms) of a pipeline and compare them on held-out
    /// sets: OUT/report/ablation.{json,md,html}.
    Ablate {
        /// The experiment YAML.
        experiment: PathBuf,
        /// Threads (data runs use them all; this many trainings run at once).
        #[arg(long)]
        threads: Option<usize>,
        /// Only check the experiment file and list every problem.
        #[arg(long)]
        validate: bool,
    },
    /// Train a GPT on token shards: a pipeline's output and `train:` section, or a train file.
    Train {
        /// The pipeline YAML (trains on its output directory with its `train:` section).
        #[arg(required_unless_present = "config", conflicts_with = "config")]
        pipeline: Option<PathBuf>,
        /// A standalone train file: the `train:` keys at the top level, with `data: OUT_DIR`
        /// (and optionally `out: DIR`).
        #[arg(long)]
        config: Option<PathBuf>,
        /// The pipeline's output directory (instead of `output.dir`).
        #[arg(long)]
        output: Option<PathBuf>,
        /// Continue from the newest checkpoint.
        #[arg(long)]
        resume: bool,
        /// Stop after this many steps in total, with a checkpoint (continue with --resume).
        #[arg(long)]
        stop_after: Option<u64>,
    },
    /// Sample text from a training checkpoint.
    Generate {
        /// A checkpoint directory, or a train output directory (its newest checkpoint).
        #[arg(long)]
        checkpoint: PathBuf,
        /// The text to continue.
        #[arg(long, default_value = "")]
        prompt: String,
        /// New tokens at most (generation also stops at EOS).
        #[arg(long, default_value_t = 100)]
        max_tokens: usize,
        /// Softmax temperature; 0 = greedy.
        #[arg(long, default_value_t = 0.8)]
        temperature: f64,
        /// Sample among the K most likely tokens (0 = all).
        #[arg(long, default_value_t = 40)]
        top_k: usize,
        /// Sampler seed.
        #[arg(long, default_value_t = 1337)]
        seed: u64,
        /// Rerun the whole context for every token instead of keeping past keys and values
        /// (slower; for comparison).
        #[arg(long)]
        no_kv_cache: bool,
        /// Print the generated token ids (one line, space-separated) instead of the text.
        #[arg(long)]
        ids: bool,
    },
    /// Fit a language's filter settings on clean reference text: every threshold of the
    /// pipeline's quality filters set to remove the same share of the language's reference as
    /// the English setting removes of an English one; stop words from the language's most
    /// frequent words. Prints the shares before and after and a `languages:` block to paste.
    Calibrate {
        /// The pipeline whose quality-filter stages to calibrate (their own options are the
        /// English settings).
        pipeline: PathBuf,
        /// The language (ISO 639-3 as the language stage writes it, e.g. jpn, kor, cmn).
        #[arg(long)]
        language: String,
        /// Clean reference documents in the language (files, directories or globs).
        #[arg(long, num_args = 1.., required = true)]
        reference: Vec<String>,
        /// Clean English reference documents (ideally the same content).
        #[arg(long, num_args = 1.., required = true)]
        english: Vec<String>,
        /// The JSON field or parquet column holding the text.
        #[arg(long, default_value = "text")]
        text_field: String,
        /// A field naming each record's language: only records in the language (English for
        /// --english) are read. For files that hold several languages.
        #[arg(long)]
        lang_field: Option<String>,
        /// Write the `languages:` blocks here too.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write the settings by stage type as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// The shipped per-language settings (`language_defaults: fineweb2`): one line per
    /// language with its source, or one language's settings in full.
    Languages {
        /// Show this language's settings in full (JSON).
        language: Option<String>,
    },
    /// Quality classifiers: train one on reference documents against others.
    Classifier {
        #[command(subcommand)]
        what: ClassifierCommand,
    },
    /// The top-k predictions of an MLM checkpoint at each [MASK] of a text.
    FillMask {
        /// An MLM checkpoint directory, or its train output directory.
        #[arg(long)]
        checkpoint: PathBuf,
        /// Text with one or more [MASK] tokens.
        #[arg(long)]
        text: String,
        /// Candidates shown per mask.
        #[arg(long, default_value_t = 5)]
        top_k: usize,
    },
    /// Loss, perplexity and bits per byte of a checkpoint on any documents.
    Eval {
        /// A checkpoint directory, or a train output directory (its newest checkpoint).
        #[arg(long)]
        checkpoint: PathBuf,
        /// Document files, directories or globs (jsonl, jsonl.gz, parquet, txt).
        #[arg(long, num_args = 1.., required_unless_present = "tasks")]
        data: Vec<String>,
        /// Multiple-choice task files (`{context, choices, label}` JSON lines, e.g.
        /// ../shared/data/tasks/*.jsonl): accuracy by likelihood per byte and the correct
        /// choice's bits per byte.
        #[arg(long, num_args = 1..)]
        tasks: Vec<PathBuf>,
        /// Score at most this many items of each task.
        #[arg(long)]
        max_items: Option<usize>,
        /// Write every task item's scores (per choice: nats, tokens, bytes) here as JSON lines.
        #[arg(long)]
        per_item: Option<PathBuf>,
        /// The JSON field or parquet column holding the text.
        #[arg(long, default_value = "text")]
        text_field: String,
        /// Score only the first N documents.
        #[arg(long)]
        max_docs: Option<usize>,
        /// Threads (0 = one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The logits a checkpoint gives a sequence of token ids, as JSON (for checks against
    /// other implementations).
    Logits {
        /// A checkpoint directory, or a train output directory.
        #[arg(long)]
        checkpoint: PathBuf,
        /// Token ids, space- or comma-separated.
        #[arg(long)]
        ids: String,
    },
    /// Write the quality report of a run (OUT/report/report.{json,md,html}), or compare two runs.
    Report {
        /// The run's output directory.
        #[arg(required_unless_present = "compare", conflicts_with = "compare")]
        out: Option<PathBuf>,
        /// Compare two runs side by side (writes compare.{json,md,html}).
        #[arg(long, num_args = 2, value_names = ["OUT_A", "OUT_B"])]
        compare: Option<Vec<PathBuf>>,
        /// Where to write (default: OUT/report, or OUT_A/report/compare with --compare).
        #[arg(long = "out", value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Documents sampled per dataset for the figures that need the text.
        #[arg(long, default_value_t = report::DEFAULT_SAMPLE)]
        sample: usize,
        /// Seed of the sample (default: the run's seed).
        #[arg(long)]
        seed: Option<u64>,
        /// The training output directory with metrics.jsonl (default: OUT/train).
        #[arg(long)]
        train: Option<PathBuf>,
    },
    /// Show a parquet shard: schema, row count, first rows.
    Inspect {
        /// The parquet file.
        shard: PathBuf,
        /// How many rows to show.
        #[arg(long, default_value_t = 5)]
        rows: usize,
        /// For a token shard: a tokenizer.json to show each row's decoded text with.
        #[arg(long)]
        tokenizer: Option<PathBuf>,
    },
    /// Write a run's datasets in another tool's format.
    Export {
        #[command(subcommand)]
        what: ExportCommand,
    },
}

#[derive(Subcommand)]
enum ExportCommand {
    /// Token shards (OUT/tokens/{train,val}) as training files for other trainers.
    Tokens {
        /// The format: `llmc` (llm.c / nanoGPT .bin: 256 x int32 header, uint16 tokens),
        /// `megatron` (Megatron-LM .bin + .idx), `datatrove` (.ds + .ds.index), `npy` (tokens
        /// and document offsets as .npy arrays).
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// The run's output directory.
        out: PathBuf,
        /// Where to write the files (train_000000.bin, val_000000.bin, ...).
        dir: PathBuf,
        /// Tokens per file at most (a new file starts after that; llmc only).
        #[arg(long, default_value_t = 100_000_000)]
        shard_tokens: u64,
    },
    /// A training checkpoint as a Hugging Face `transformers` model directory.
    Model {
        /// The format: `hf` (config.json, model.safetensors, tokenizer files).
        #[arg(long, value_enum)]
        format: ModelFormat,
        /// A checkpoint directory, or a train output directory (its newest checkpoint).
        checkpoint: PathBuf,
        /// The directory to write.
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum ClassifierCommand {
    /// Train a fastText-style classifier (hashed word unigrams and bigrams): positive = the
    /// quality to keep. Prints held-out accuracy, precision, recall and AUC.
    Train {
        /// Positive documents: files, directories, globs (jsonl, parquet, txt).
        #[arg(long, num_args = 1.., required = true)]
        positive: Vec<String>,
        /// Negative documents.
        #[arg(long, num_args = 1.., required = true)]
        negative: Vec<String>,
        /// The model file to write (its figures go to MODEL.metrics.json).
        #[arg(long)]
        out: PathBuf,
        /// The JSON field or parquet column holding the text.
        #[arg(long, default_value = "text")]
        text_field: String,
        /// Documents read per side at most.
        #[arg(long)]
        max_docs: Option<usize>,
        /// Embedding width.
        #[arg(long, default_value_t = 16)]
        dim: u32,
        /// Passes over the training split.
        #[arg(long, default_value_t = 5)]
        epochs: u32,
        /// Share of each class held out for the figures.
        #[arg(long, default_value_t = 0.1)]
        holdout: f64,
        /// Seed of the split, the initialisation and the example order.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Threads (0 = one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
    },
}

/// Model export formats.
#[derive(Clone, Copy, clap::ValueEnum)]
enum ModelFormat {
    /// Hugging Face transformers (GPT2LMHeadModel, or XLMRobertaXLForMaskedLM for mlm).
    Hf,
}

/// What every phase of a split run is given.
#[derive(clap::Args)]
struct SplitArgs {
    /// The pipeline YAML.
    pipeline: PathBuf,
    /// Number of tasks of the split.
    #[arg(long)]
    tasks: usize,
    /// Output directory (instead of `output.dir`).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Worker threads (instead of `run.threads`).
    #[arg(long)]
    threads: Option<usize>,
}

impl SplitArgs {
    fn base(&self) -> PathBuf {
        base_dir(&self.pipeline)
    }

    fn options(&self, task: usize) -> RunOptions {
        RunOptions {
            output: self.output.clone(),
            threads: self.threads,
            progress: true,
            task: TaskSpec {
                index: task,
                count: self.tasks,
            },
            ..Default::default()
        }
    }
}

#[derive(Subcommand)]
enum DedupCommand {
    /// Phase 1 (per task): write this task's dedup keys, sorted and checksummed.
    Signatures {
        #[command(flatten)]
        split: SplitArgs,
        /// This task (0-based).
        #[arg(long)]
        task: usize,
    },
    /// Phase 2 (per dedup stage and band): find the keys shared by several documents; with
    /// --threads T and no --unit, T units at once.
    Buckets {
        #[command(flatten)]
        split: SplitArgs,
        /// Only this unit (0-based; units are the bands of the dedup stages in order).
        #[arg(long)]
        unit: Option<usize>,
    },
    /// Phase 3 (one job): join the buckets into clusters and write the removal lists.
    Cluster {
        #[command(flatten)]
        split: SplitArgs,
    },
}

/// Token export formats.
#[derive(Clone, Copy, clap::ValueEnum)]
enum ExportFormat {
    /// llm.c / nanoGPT `.bin` shards.
    Llmc,
    /// Megatron-LM's indexed dataset (`.bin` + `.idx`).
    Megatron,
    /// datatrove / nanotron `.ds` files with their index.
    Datatrove,
    /// A flat numpy array and an offsets array.
    Npy,
}

/// Exit code for an invalid pipeline config.
const EXIT_CONFIG: u8 = 2;

fn load(pipeline: &Path) -> Result<config::Pipeline, ExitCode> {
    config::load_file(pipeline).map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(EXIT_CONFIG)
    })
}

/// The directory relative paths in `pipeline` are resolved against (`.` for a bare file name).
fn base_dir(pipeline: &Path) -> PathBuf {
    match pipeline.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Entry point: parses arguments, runs the command, maps errors to exit codes.
pub fn main() -> ExitCode {
    let code = run_command();
    corpusforge::storage::clean_up();
    code
}

fn run_command() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CORPUSFORGE_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,html5ever=error,markup5ever=error")
            }),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    let result = match cli.command {
        Command::Validate { pipeline } => match load(&pipeline) {
            Ok(p) => {
                // The files the stages read (models, evaluation sets) are opened and checked
                // too, before any document would be read.
                let base = base_dir(&pipeline);
                let ctx = corpusforge::stage::registry::BuildContext { base_dir: &base };
                match corpusforge::stage::registry::build_calibrated(
                    p.streaming_stages(),
                    &ctx,
                    corpusforge::stage::registry::Sampling::Skip,
                ) {
                    Ok(_) => {
                        println!("{}: ok ({} stages)", pipeline.display(), p.stages.len());
                        Ok(())
                    }
                    Err(e) => {
                        eprintln!("{}: {e}", pipeline.display());
                        return ExitCode::from(EXIT_CONFIG);
                    }
                }
            }
            Err(code) => return code,
        },
        Command::Schema { experiment: false } => {
            print!("{}", config::json_schema_string());
            Ok(())
        }
        Command::Schema { experiment: true } => {
            let schema = config::experiment::experiment_schema();
            println!(
                "{}",
                serde_json::to_string_pretty(&schema).unwrap_or_default()
            );
            Ok(())
        }
        Command::Ablate {
            experiment,
            threads,
            validate,
        } => {
            let lx = match config::experiment::load_experiment(&experiment) {
                Ok(lx) => lx,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(EXIT_CONFIG);
                }
            };
            if validate {
                // Task files are read item by item: a bad item is refused with file and line.
                for (name, t) in &lx.experiment.tasks.0 {
                    let path = lx.dir.join(&t.path);
                    if let Err(e) = train::tasks::read_tasks(&path, t.max_items.map(|m| m as usize))
                    {
                        eprintln!("{}: task set {name}: {e}", experiment.display());
                        return ExitCode::from(EXIT_CONFIG);
                    }
                }
                println!(
                    "{}: OK ({} arms, {} evaluation sets, {} task sets, {} seeds)",
                    experiment.display(),
                    lx.experiment.arms.0.len(),
                    lx.experiment.eval.0.len(),
                    lx.experiment.tasks.0.len(),
                    lx.experiment.seeds
                );
                Ok(())
            } else {
                let opts = pipeline::ablate::AblateOptions {
                    threads,
                    progress: true,
                };
                pipeline::ablate::ablate(&lx, &experiment, &opts)
                    .map(|d| print_ablation(&d))
                    .map_err(anyhow::Error::from)
            }
        }
        Command::Inspect {
            shard,
            rows,
            tokenizer,
        } => inspect::inspect_with(
            &shard,
            rows,
            tokenizer.as_deref(),
            &mut std::io::stdout().lock(),
        )
        .with_context(|| format!("inspecting {}", shard.display())),
        Command::Export {
            what:
                ExportCommand::Tokens {
                    format,
                    out,
                    dir,
                    shard_tokens,
                },
        } => export_tokens(format, &out, &dir, shard_tokens),
        Command::Export {
            what:
                ExportCommand::Model {
                    format: ModelFormat::Hf,
                    checkpoint,
                    out,
                },
        } => train::export::export_hf(&checkpoint, &out)
            .map(|e| {
                println!(
                    "exported {} as {} to {} ({} files)",
                    e.checkpoint.display(),
                    e.architecture,
                    e.out.display(),
                    e.files.len()
                )
            })
            .map_err(anyhow::Error::from),
        Command::Calibrate {
            pipeline,
            language,
            reference,
            english,
            text_field,
            lang_field,
            out,
            json,
        } => {
            let p = match load(&pipeline) {
                Ok(p) => p,
                Err(code) => return code,
            };
            let refs = corpusforge::calibrate::References {
                language: reference,
                english,
                text_field,
                lang_field,
            };
            match corpusforge::calibrate::calibrate(&p, &language, &refs) {
                Ok(c) => {
                    println!(
                        "{}: {} reference documents, {} English",
                        c.language, c.documents.0, c.documents.1
                    );
                    print!("{}", c.table());
                    println!();
                    print!("{}", c.yaml());
                    let mut r = Ok(());
                    if let Some(out) = out {
                        r = std::fs::write(&out, c.yaml())
                            .map_err(|e| anyhow::anyhow!("{}: {e}", out.display()));
                    }
                    if let (Ok(()), Some(j)) = (&r, json) {
                        r = std::fs::write(
                            &j,
                            serde_json::to_string_pretty(&c.json()).unwrap_or_default() + "\n",
                        )
                        .map_err(|e| anyhow::anyhow!("{}: {e}", j.display()));
                    }
                    r
                }
                Err(e) => {
                    eprintln!("calibrate: {e}");
                    return ExitCode::from(EXIT_CONFIG);
                }
            }
        }
        Command::Languages { language } => {
            let t = corpusforge::text::langs::fineweb2();
            match language {
                None => {
                    println!(
                        "{} ({} at {}): {} languages",
                        t.name,
                        t.repository,
                        t.commit,
                        t.languages.len()
                    );
                    for r in &t.languages {
                        println!(
                            "{:<4} {:<5} {:<10} {:<15} {}",
                            r.code,
                            r.script,
                            corpusforge::text::Segmenter::for_language(&r.code).name(),
                            r.fineweb2.as_deref().unwrap_or("-"),
                            t.source_of(r)
                        );
                    }
                    Ok(())
                }
                Some(code) => match corpusforge::text::langs::canonical(&code)
                    .ok()
                    .and_then(|k| t.row(&k).cloned())
                {
                    Some(r) => {
                        let mut v = serde_json::Map::new();
                        v.insert("code".into(), r.code.clone().into());
                        v.insert("script".into(), r.script.clone().into());
                        v.insert("source".into(), t.source_of(&r).into());
                        if let Some(d) = &r.derived {
                            v.insert("derived".into(), d.clone().into());
                        }
                        if let Some(n) = &r.note {
                            v.insert("note".into(), n.clone().into());
                        }
                        for (k, s) in &r.stages {
                            v.insert(k.clone(), serde_json::Value::Object(s.clone()));
                        }
                        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
                        Ok(())
                    }
                    None => {
                        eprintln!(
                            "{}",
                            corpusforge::text::langs::canonical(&code)
                                .err()
                                .unwrap_or_else(|| format!("no settings for {code}"))
                        );
                        return ExitCode::from(EXIT_CONFIG);
                    }
                },
            }
        }
        Command::Classifier {
            what:
                ClassifierCommand::Train {
                    positive,
                    negative,
                    out,
                    text_field,
                    max_docs,
                    dim,
                    epochs,
                    holdout,
                    seed,
                    threads,
                },
        } => {
            let cfg = corpusforge::classifier::TrainConfig {
                dim,
                epochs,
                holdout_fraction: holdout,
                seed,
                threads,
                ..Default::default()
            };
            let t0 = std::time::Instant::now();
            corpusforge::classifier::files::train_files(
                &positive,
                &negative,
                &text_field,
                max_docs,
                &cfg,
                &out,
            )
            .map(|t| {
                let m = &t.metrics;
                println!(
                    "trained on {} positive and {} negative documents in {:.1} s -> {}",
                    t.read.0,
                    t.read.1,
                    t0.elapsed().as_secs_f64(),
                    out.display()
                );
                println!(
                    "held out {} ({} positive, {} negative): accuracy {:.4}, precision {:.4}, recall {:.4}, F1 {:.4}, AUC {}",
                    m.holdout_docs,
                    m.positives,
                    m.negatives,
                    m.accuracy,
                    m.precision,
                    m.recall,
                    m.f1,
                    m.auc.map_or("n/a".into(), |a| format!("{a:.4}"))
                );
                println!("figures: {}", t.metrics_file.display());
            })
            .map_err(|e| anyhow::anyhow!(e))
        }
        Command::FillMask {
            checkpoint,
            text,
            top_k,
        } => train::fill_mask(&checkpoint, &text, top_k)
            .map(|fills| {
                for f in fills {
                    println!("[MASK] at token {}:", f.position);
                    for (id, tok, p) in f.candidates {
                        println!("  {p:>7.4}  {tok:?} ({id})");
                    }
                }
            })
            .map_err(anyhow::Error::from),
        Command::Eval {
            checkpoint,
            data,
            tasks,
            max_items,
            per_item,
            text_field,
            max_docs,
            threads,
            json,
        } => {
            let mut r = Ok(());
            if !data.is_empty() {
                let opts = train::EvalOptions {
                    data,
                    text_field,
                    max_docs,
                    threads,
                    ..Default::default()
                };
                r = train::evaluate(&checkpoint, &opts)
                    .map(|r| print_eval(&r, json))
                    .map_err(anyhow::Error::from);
            }
            if r.is_ok() && !tasks.is_empty() {
                let named: Vec<(String, PathBuf)> = tasks
                    .iter()
                    .map(|p| {
                        let name = p.file_stem().map_or_else(
                            || p.display().to_string(),
                            |s| s.to_string_lossy().to_string(),
                        );
                        (name, p.clone())
                    })
                    .collect();
                r = train::tasks::evaluate_tasks(
                    &checkpoint,
                    &named,
                    max_items,
                    threads,
                    per_item.as_deref(),
                )
                .map(|reports| print_tasks(&reports, json))
                .map_err(anyhow::Error::from);
            }
            r
        }
        Command::Logits { checkpoint, ids } => print_logits(&checkpoint, &ids),
        Command::Run {
            pipeline,
            output,
            threads,
            resume,
            task,
            tasks,
        } => {
            let p = match load(&pipeline) {
                Ok(p) => p,
                Err(code) => return code,
            };
            let opts = RunOptions {
                output,
                threads,
                resume,
                progress: true,
                task: TaskSpec {
                    index: task.unwrap_or(0),
                    count: tasks.unwrap_or(1),
                },
            };
            let task = opts.task;
            pipeline::run(&p, &base_dir(&pipeline), &opts, &mut |e| match e {
                Event::Data(s) if task.is_split() => print_task(task, s),
                e => print_event(e),
            })
            .map(|_| ())
            .map_err(anyhow::Error::from)
        }
        Command::Dedup { phase } => {
            let (DedupCommand::Signatures { split, .. }
            | DedupCommand::Buckets { split, .. }
            | DedupCommand::Cluster { split }) = &phase;
            match load(&split.pipeline) {
                Ok(p) => dedup_phase(phase, &p),
                Err(code) => return code,
            }
        }
        Command::Finalize { split } => match load(&split.pipeline) {
            Ok(p) => finalize(&split, &p),
            Err(code) => return code,
        },
        Command::MergeStats { out } => merge_stats(&out),
        Command::Diff { a, b } => match corpusforge::storage::fetched_dir(&a)
            .and_then(|la| Ok((la, corpusforge::storage::fetched_dir(&b)?)))
            .map_err(anyhow::Error::from)
            .and_then(|(la, lb)| Ok(corpusforge::diff::diff(&la, &lb)?))
        {
            Ok(r) => {
                for c in &r.compared {
                    println!("compared {c}");
                }
                if r.differences.is_empty() {
                    println!("{} and {} agree", a.display(), b.display());
                    Ok(())
                } else {
                    for d in &r.differences {
                        println!("{d}");
                    }
                    println!(
                        "{} and {} differ ({} differences)",
                        a.display(),
                        b.display(),
                        r.differences.len()
                    );
                    return ExitCode::from(1);
                }
            }
            Err(e) => Err(e),
        },
        Command::Slurm {
            pipeline,
            tasks,
            output,
            partition,
            cpus_per_task,
            mem,
            time,
            account,
            sbatch_arg,
            dry_run,
        } => {
            let p = match load(&pipeline) {
                Ok(p) => p,
                Err(code) => return code,
            };
            let opts = distributed::slurm::SlurmOptions {
                tasks,
                partition,
                cpus_per_task,
                mem,
                time,
                account,
                extra: sbatch_arg,
                dry_run,
                binary: None,
            };
            slurm(&p, &pipeline, output, &opts)
        }
        Command::Ray {
            pipeline,
            tasks,
            output,
            address,
            cpus_per_task,
            retries,
            python,
            binary,
        } => {
            let p = match load(&pipeline) {
                Ok(p) => p,
                Err(code) => return code,
            };
            let opts = distributed::ray::RayOptions {
                tasks,
                address,
                cpus_per_task,
                retries,
                python,
                binary,
            };
            pipeline::split::ray(&p, &pipeline, &base_dir(&pipeline), output, &opts)
                .map(|done| {
                    for (phase, ran, skipped) in &done.phases {
                        println!("{phase:<10} {ran} ran, {skipped} already complete");
                    }
                    println!("logs: {}", done.logs);
                })
                .map_err(anyhow::Error::from)
        }
        Command::Train {
            pipeline,
            config: train_file,
            output,
            resume,
            stop_after,
        } => {
            let opts = train::TrainOptions {
                resume,
                progress: true,
                stop_after,
            };
            match (pipeline, train_file) {
                (_, Some(file)) => match train::load_train_file(&file) {
                    Ok((cfg, paths)) => train::train(&cfg, &paths, &opts)
                        .map(|s| print_training(&s))
                        .map_err(anyhow::Error::from),
                    Err(e) => {
                        eprintln!("{e}");
                        return ExitCode::from(EXIT_CONFIG);
                    }
                },
                (Some(pipeline), None) => {
                    let p = match load(&pipeline) {
                        Ok(p) => p,
                        Err(code) => return code,
                    };
                    if p.train.is_none() {
                        eprintln!("{}: no train: section", pipeline.display());
                        return ExitCode::from(EXIT_CONFIG);
                    }
                    pipeline::train_pipeline(&p, &base_dir(&pipeline), output, &opts)
                        .map(|s| print_training(&s))
                        .map_err(anyhow::Error::from)
                }
                (None, None) => Err(anyhow::anyhow!("give a pipeline or --config TRAIN.yaml")),
            }
        }
        Command::Report {
            out,
            compare,
            dir,
            sample,
            seed,
            train,
        } => {
            let opts = report::ReportOptions {
                sample,
                seed,
                train_dir: train,
            };
            match (out, compare) {
                (_, Some(pair)) => compare_reports(&pair[0], &pair[1], dir, &opts),
                (Some(out), None) => corpusforge::storage::local_dir(&out)
                    .map_err(anyhow::Error::from)
                    .and_then(|out| {
                        let dir = dir
                            .map(|d| corpusforge::storage::local_dir(&d))
                            .transpose()?;
                        Ok(pipeline::write_report(&out, dir, &opts)?)
                    })
                    .map(|r| print_report(&r)),
                (None, None) => Err(anyhow::anyhow!("give OUT or --compare OUT_A OUT_B")),
            }
        }
        Command::Generate {
            checkpoint,
            prompt,
            max_tokens,
            temperature,
            top_k,
            seed,
            no_kv_cache,
            ids,
        } => {
            let opts = train::SampleOptions {
                prompt,
                max_tokens,
                temperature,
                top_k,
                seed,
                kv_cache: !no_kv_cache,
            };
            let t0 = std::time::Instant::now();
            train::generate(&checkpoint, &opts)
                .map(|s| {
                    let secs = t0.elapsed().as_secs_f64();
                    if ids {
                        let list: Vec<String> = s.tokens.iter().map(u32::to_string).collect();
                        println!("{}", list.join(" "));
                    } else {
                        println!("{}", s.text);
                    }
                    tracing::info!(
                        "{} tokens in {secs:.3} s ({:.0} tokens/s, {} cache)",
                        s.tokens.len(),
                        s.tokens.len() as f64 / secs.max(1e-9),
                        if opts.kv_cache {
                            "with the kv"
                        } else {
                            "no kv"
                        }
                    );
                })
                .map_err(anyhow::Error::from)
        }
    };
    // Files written in place in an object store's mirror (logs, metrics) go up at the end.
    let result = result.and_then(|()| corpusforge::storage::sync_up().map_err(anyhow::Error::from));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Prints an experiment's results: per arm and set, bits per byte; then the comparisons.
fn print_ablation(d: &pipeline::ablate::AblateDone) {
    let r = &d.report;
    for a in &r.arms {
        println!(
            "{}: {} of {} documents kept ({} decontaminated), {} training tokens, {:.2} epochs; data {:.1} s, training {:.1} s, eval {:.1} s",
            a.name, a.kept, a.input, a.decontaminated, a.train_tokens, a.epochs,
            a.data_seconds, a.train_seconds, a.eval_seconds
        );
        for s in &a.scores {
            println!(
                "  {}: {:.4} ± {:.4} bits/byte (loss {:.4} ± {:.4})",
                s.eval, s.bits_per_byte.mean, s.bits_per_byte.sd, s.loss.mean, s.loss.sd
            );
        }
    }
    for c in &r.comparisons {
        println!("{}", c.sentence);
    }
    for f in [&d.written.json, &d.written.md, &d.written.html] {
        println!("wrote {}", f.display());
    }
    println!("{:.1} s", r.seconds);
}

/// Prints an evaluation: a line per figure, or JSON.
fn print_eval(r: &train::EvalReport, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(r).unwrap_or_default());
        return;
    }
    println!(
        "checkpoint   {} (step {}, {})",
        r.checkpoint.display(),
        r.step,
        r.objective
    );
    println!(
        "documents    {} ({} bytes, {} tokens scored; {} rejected)",
        r.documents, r.bytes, r.tokens, r.rejected
    );
    println!("loss         {:.4} nats/token", r.loss);
    println!("perplexity   {:.3}", r.perplexity);
    if let Some(b) = r.bits_per_byte {
        println!("bits/byte    {b:.4}");
    }
    println!("accuracy     {:.4}", r.accuracy);
    println!(
        "speed        {:.0} tokens/s ({:.2} s)",
        r.tokens_per_s, r.seconds
    );
}

/// Prints the logits of `ids` under a checkpoint as JSON: `{"ids": [...], "logits": [[...]]}`.
fn print_logits(checkpoint: &Path, ids: &str) -> anyhow::Result<()> {
    let ids: Vec<u32> = ids
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<u32>()
                .with_context(|| format!("--ids: {s:?} is not a token id"))
        })
        .collect::<anyhow::Result<_>>()?;
    anyhow::ensure!(!ids.is_empty(), "--ids: no token ids");
    let logits = train::checkpoint_logits(checkpoint, &ids)?;
    let v = logits.len() / ids.len();
    let rows: Vec<&[f32]> = logits.chunks(v).collect();
    println!("{}", serde_json::json!({"ids": ids, "logits": rows}));
    Ok(())
}

/// Prints what a run reports as it goes.
fn print_event(e: Event<'_>) {
    match e {
        Event::Data(s) => report_run(s),
        Event::Trained(s) => print_training(s),
        Event::Report(r) => print_report(r),
    }
}

/// The summary of one task of a split run (tokenize, train and report wait for `finalize`).
fn print_task(task: TaskSpec, s: &RunSummary) {
    if s.already_complete {
        println!(
            "task {} of {}: already complete, nothing to do",
            task.index, task.count
        );
        return;
    }
    println!("task {} of {}:", task.index, task.count);
    report_run(s);
}

fn dedup_phase(phase: DedupCommand, p: &config::Pipeline) -> anyhow::Result<()> {
    match phase {
        DedupCommand::Signatures { split, task } => {
            let s = pipeline::split::signatures(p, &split.base(), &split.options(task))?;
            let tasks = split.tasks;
            if s.skipped {
                println!("signatures task {task} of {tasks}: already complete");
            } else {
                println!(
                    "signatures task {task} of {tasks}: {} documents, {} keys",
                    s.documents, s.keys
                );
            }
        }
        DedupCommand::Buckets { split, unit } => {
            let n =
                pipeline::split::buckets(p, &split.base(), &split.options(0), split.tasks, unit)?;
            println!("buckets: {n} units written");
        }
        DedupCommand::Cluster { split } => {
            let counts =
                pipeline::split::cluster(p, &split.base(), &split.options(0), split.tasks)?;
            match counts {
                None => println!("cluster: already complete"),
                Some(counts) => {
                    for (stage, removed) in counts {
                        println!("cluster: stages[{stage}] removes {removed} documents");
                    }
                }
            }
        }
    }
    Ok(())
}

/// After every task of a split run: merged stats, tokenize, then training and the report.
fn finalize(split: &SplitArgs, p: &config::Pipeline) -> anyhow::Result<()> {
    let tasks = split.tasks;
    pipeline::split::finalize_run(p, &split.base(), &split.options(0), tasks, &mut |e| {
        if let Event::Data(_) = e {
            println!("merged {tasks} tasks:");
        }
        print_event(e);
    })?;
    Ok(())
}

fn merge_stats(out: &Path) -> anyhow::Result<()> {
    let (m, finalized) = pipeline::split::merge_stats(out)?;
    let s = RunSummary {
        out_dir: out.to_path_buf(),
        stats: m.stats,
        already_complete: false,
    };
    println!(
        "{} tasks, accounting checked{}",
        m.tasks,
        if finalized {
            " (the run is finalized; its stats.json, with tokenize counters, is kept)"
        } else {
            "; wrote stats.json"
        }
    );
    report_run(&s);
    Ok(())
}

fn slurm(
    p: &config::Pipeline,
    pipeline_path: &Path,
    output: Option<PathBuf>,
    opts: &distributed::slurm::SlurmOptions,
) -> anyhow::Result<()> {
    let sub = pipeline::split::slurm(p, pipeline_path, &base_dir(pipeline_path), output, opts)?;
    if sub.jobs.is_empty() {
        println!("every phase is already complete; nothing submitted");
    }
    for j in &sub.jobs {
        let skipped = if j.skipped.is_empty() {
            String::new()
        } else {
            format!(" (already complete: {:?})", j.skipped)
        };
        match &j.job_id {
            Some(id) => println!(
                "{:<10} job {id}{}{skipped}",
                j.phase,
                j.array
                    .as_ref()
                    .map(|a| format!(" array {a}"))
                    .unwrap_or_default()
            ),
            None => println!("{:<10} {}{skipped}", j.phase, j.command.join(" ")),
        }
    }
    Ok(())
}

fn print_report(r: &pipeline::ReportDone) {
    let w = &r.written;
    println!(
        "report ({} kept documents, sample {}, {:.1}s): {}  ({} and {} beside it)",
        r.kept,
        r.sampled,
        r.seconds,
        corpusforge::storage::shown(&w.html),
        w.json.file_name().unwrap_or_default().to_string_lossy(),
        w.md.file_name().unwrap_or_default().to_string_lossy()
    );
}

fn compare_reports(
    a: &Path,
    b: &Path,
    dir: Option<PathBuf>,
    opts: &report::ReportOptions,
) -> anyhow::Result<()> {
    let dir = dir.unwrap_or_else(|| a.join("report").join("compare"));
    let (rows, w) = report::compare(a, b, &dir, opts)?;
    let changed = rows
        .iter()
        .filter(|d| d.diff.is_some_and(|x| x != 0.0) || d.a.is_some() != d.b.is_some())
        .count();
    println!(
        "{} figures compared, {} differ: {}  (compare.json and compare.md beside it)",
        rows.len(),
        changed,
        corpusforge::storage::shown(&w.html)
    );
    Ok(())
}

fn print_training(s: &train::TrainSummary) {
    if s.already_complete {
        println!(
            "{}: training already complete ({} steps), nothing to do",
            corpusforge::storage::shown(&s.out_dir),
            s.steps
        );
        return;
    }
    let val = |v: Option<f64>| v.map_or_else(|| "n/a".to_string(), |v| format!("{v:.4}"));
    println!(
        "trained {}/{} steps ({} tokens): loss {}, val loss {} -> {}, {:.0} tokens/s, MFU {:.1}% -> {}",
        s.steps,
        s.total_steps,
        s.tokens,
        s.last_loss.map_or_else(|| "n/a".to_string(), |v| format!("{v:.4}")),
        val(s.initial_val_loss),
        val(s.final_val_loss),
        s.tokens_per_s,
        s.mfu * 100.0,
        corpusforge::storage::shown(s.checkpoint.as_deref().unwrap_or(&s.out_dir))
    );
    for m in &s.mixture {
        println!(
            "  source {}: {:.2}% of windows (weight {:.2}%), {} windows, {:.2} epochs, val loss {}",
            m.name,
            m.share * 100.0,
            m.weight * 100.0,
            m.windows,
            m.epochs,
            val(m.val_loss)
        );
    }
}

fn report_run(s: &RunSummary) {
    if s.already_complete {
        println!(
            "{}: already complete, nothing to do",
            corpusforge::storage::shown(&s.out_dir)
        );
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
        corpusforge::storage::shown(&s.out_dir)
    );
    if !st.skipped.is_empty() {
        let skipped: Vec<String> = st.skipped.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!(
            "  input records that are not documents (skipped): {}",
            skipped.join(" ")
        );
    }
    for stage in &st.stages {
        let reasons: Vec<String> = stage
            .dropped
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!(
            "  [{}] {:<18} seen {:>9} kept {:>9} {}",
            stage.index,
            stage.kind,
            stage.seen,
            stage.kept,
            reasons.join(" ")
        );
    }
}

fn print_tasks(reports: &[train::tasks::TaskReport], json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(reports).unwrap_or_default()
        );
        return;
    }
    println!(
        "{:<14} {:>7} {:>9} {:>8} {:>14} {:>12} {:>10}",
        "task", "items", "accuracy", "chance", "correct bits/B", "context cut", "tokens/s"
    );
    for r in reports {
        println!(
            "{:<14} {:>7} {:>9.4} {:>8.4} {:>14.4} {:>12} {:>10.0}",
            r.task,
            r.items,
            r.accuracy,
            r.chance,
            r.correct_bits_per_byte,
            r.context_cut,
            r.tokens as f64 / r.seconds.max(1e-9)
        );
    }
}

fn export_tokens(
    format: ExportFormat,
    out: &Path,
    dir: &Path,
    shard_tokens: u64,
) -> anyhow::Result<()> {
    use corpusforge::export::formats::{export, Format};
    let files = match format {
        ExportFormat::Llmc => corpusforge::export::export_llmc(out, dir, shard_tokens)?,
        ExportFormat::Megatron => export(out, dir, Format::Megatron)?,
        ExportFormat::Datatrove => export(out, dir, Format::Datatrove)?,
        ExportFormat::Npy => export(out, dir, Format::Npy)?,
    };
    for f in &files {
        println!("{}: {} tokens ({})", f.path.display(), f.tokens, f.split);
    }
    Ok(())
}
