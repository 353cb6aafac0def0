//! The model file: `MAGIC`, format version (u32 LE), JSON header length (u64 LE), JSON
//! header, `n_params` little-endian f32 weights (embedding table row-major, output
//! weights, bias), then the xxh3-64 (LE) of every byte before it.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::{xxh3_64, Xxh3};

use super::error::ClassifierError;
use super::features::{
    LONG_WORD_CHARS, LONG_WORD_NGRAMS, NORMALIZATION, SEED_BIGRAM, SEED_CHAR, SEED_UNIGRAM,
};
use super::metrics::Metrics;
use super::model::{Labels, Model, ModelConfig};

/// First four bytes of every model file.
pub const MAGIC: &[u8; 4] = b"CFQC";
/// The file format version this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The header's `kind` field.
pub const KIND: &str = "corpusforge-quality-classifier";

/// Bytes before the JSON header: magic, version, header length.
const PREFIX_LEN: u64 = 4 + 4 + 8;
/// Bytes of the checksum trailer.
const TRAILER_LEN: u64 = 8;

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    kind: String,
    version: u32,
    config: HeaderConfig,
    metrics: Option<Metrics>,
    labels: Option<Labels>,
    n_params: u64,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct HeaderConfig {
    dim: u32,
    buckets: u32,
    char_ngrams: Option<[u8; 2]>,
    max_words: u32,
    normalization: String,
    feature_seeds: FeatureSeeds,
    long_word_chars: u32,
    long_word_ngrams: [u8; 2],
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct FeatureSeeds {
    unigram: u64,
    bigram: u64,
    char: u64,
}

impl HeaderConfig {
    fn new(c: &ModelConfig) -> Self {
        Self {
            dim: c.dim,
            buckets: c.features.buckets,
            char_ngrams: c.features.char_ngrams,
            max_words: c.features.max_words,
            normalization: NORMALIZATION.to_owned(),
            feature_seeds: FeatureSeeds {
                unigram: SEED_UNIGRAM,
                bigram: SEED_BIGRAM,
                char: SEED_CHAR,
            },
            long_word_chars: LONG_WORD_CHARS as u32,
            long_word_ngrams: LONG_WORD_NGRAMS,
        }
    }

    fn model_config(&self) -> ModelConfig {
        ModelConfig::new(self.dim, self.buckets, self.char_ngrams, self.max_words)
    }
}

/// Feeds written bytes to the checksum as well.
struct HashingWriter<W: Write> {
    inner: W,
    hasher: Xxh3,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl Model {
    /// Writes the model to `path` atomically: a temporary sibling, then a rename.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), ClassifierError> {
        let path = path.as_ref();
        let tmp = tmp_path(path);
        let result = self
            .write_to(&tmp)
            .and_then(|()| crate::storage::commit(&tmp, path));
        result.map_err(|source| {
            let _ = fs::remove_file(&tmp);
            ClassifierError::Write {
                path: path.to_owned(),
                source,
            }
        })
    }

    fn write_to(&self, tmp: &Path) -> std::io::Result<()> {
        let header = Header {
            kind: KIND.to_owned(),
            version: FORMAT_VERSION,
            config: HeaderConfig::new(&self.config),
            metrics: self.metrics.clone(),
            labels: self.labels.clone(),
            n_params: self.n_params(),
        };
        let json = serde_json::to_vec(&header).map_err(std::io::Error::other)?;
        let file = File::create(tmp)?;
        let mut w = HashingWriter {
            inner: BufWriter::with_capacity(1 << 20, file),
            hasher: Xxh3::new(),
        };
        w.write_all(MAGIC)?;
        w.write_all(&FORMAT_VERSION.to_le_bytes())?;
        w.write_all(&(json.len() as u64).to_le_bytes())?;
        w.write_all(&json)?;
        let mut buf = Vec::with_capacity(1 << 16);
        let weights = self.input.iter().chain(&self.output).chain([&self.bias]);
        for x in weights {
            buf.extend_from_slice(&x.to_le_bytes());
            if buf.len() >= 1 << 16 {
                w.write_all(&buf)?;
                buf.clear();
            }
        }
        w.write_all(&buf)?;
        let checksum = w.hasher.digest();
        let mut inner = w.inner;
        inner.write_all(&checksum.to_le_bytes())?;
        let file = inner.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()
    }

    /// Reads and verifies a model written by [`Model::save`].
    pub fn load(path: impl AsRef<Path>) -> Result<Model, ClassifierError> {
        let path = path.as_ref();
        let bytes = fs::read(path).map_err(|source| ClassifierError::Read {
            path: path.to_owned(),
            source,
        })?;
        parse(&bytes, path)
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

fn escaped(bytes: &[u8]) -> String {
    let s: String = bytes
        .iter()
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect();
    format!("\"{s}\"")
}

fn parse(bytes: &[u8], path: &Path) -> Result<Model, ClassifierError> {
    let path_buf = || path.to_owned();
    let len = bytes.len() as u64;
    let truncated = |expected: u64| ClassifierError::Truncated {
        path: path_buf(),
        len,
        expected,
    };
    let head = &bytes[..bytes.len().min(4)];
    if head != &MAGIC[..head.len()] || head.is_empty() {
        if head.is_empty() {
            return Err(truncated(PREFIX_LEN + TRAILER_LEN));
        }
        return Err(ClassifierError::WrongMagic {
            path: path_buf(),
            found: escaped(&bytes[..bytes.len().min(16)]),
        });
    }
    if len < PREFIX_LEN {
        return Err(truncated(PREFIX_LEN + TRAILER_LEN));
    }
    let version = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return Err(ClassifierError::UnsupportedVersion {
            path: path_buf(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let header_len = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
    let header_end = PREFIX_LEN
        .checked_add(header_len)
        .filter(|&e| e.checked_add(TRAILER_LEN).is_some_and(|t| t <= len));
    let Some(header_end) = header_end else {
        return Err(truncated(
            PREFIX_LEN
                .saturating_add(header_len)
                .saturating_add(TRAILER_LEN),
        ));
    };
    let invalid = |message: String| ClassifierError::InvalidHeader {
        path: path_buf(),
        message,
    };
    let header: Header = serde_json::from_slice(&bytes[PREFIX_LEN as usize..header_end as usize])
        .map_err(|e| invalid(format!("JSON: {e}")))?;
    if header.kind != KIND {
        return Err(invalid(format!(
            "kind is {:?}, expected {KIND:?}",
            header.kind
        )));
    }
    if header.version != FORMAT_VERSION {
        return Err(invalid(format!(
            "header version {} differs from the file's version {FORMAT_VERSION}",
            header.version
        )));
    }
    let config = header.config.model_config();
    config.validate().map_err(invalid)?;
    // A model only means something with the exact features it was trained on.
    let expected_features = HeaderConfig::new(&config);
    if header.config != expected_features {
        return Err(invalid(format!(
            "feature definition differs from this build's (normalization, seeds or long-word rules): {:?}",
            header.config
        )));
    }
    let n_params = config
        .n_params()
        .filter(|&n| n == header.n_params)
        .ok_or_else(|| {
            invalid(format!(
                "n_params {} does not match dim {} and buckets {}",
                header.n_params, config.dim, config.features.buckets
            ))
        })?;
    let expected_len = n_params
        .checked_mul(4)
        .and_then(|w| w.checked_add(header_end + TRAILER_LEN))
        .ok_or_else(|| invalid(format!("n_params {n_params} is too large")))?;
    if len < expected_len {
        return Err(truncated(expected_len));
    }
    if len > expected_len {
        return Err(ClassifierError::SizeMismatch {
            path: path_buf(),
            expected: expected_len,
            actual: len,
        });
    }
    let body_end = (len - TRAILER_LEN) as usize;
    let stored = u64::from_le_bytes(bytes[body_end..].try_into().expect("8 bytes"));
    let computed = xxh3_64(&bytes[..body_end]);
    if stored != computed {
        return Err(ClassifierError::ChecksumMismatch {
            path: path_buf(),
            stored,
            computed,
        });
    }

    let mut weights = bytes[header_end as usize..body_end]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")));
    let input_len = config.input_len().expect("validated");
    let input: Vec<f32> = weights.by_ref().take(input_len).collect();
    let output: Vec<f32> = weights.by_ref().take(config.dim as usize).collect();
    let bias = weights.next().expect("sized above");
    Ok(Model {
        config,
        input,
        output,
        bias,
        metrics: header.metrics,
        labels: header.labels,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{train, TrainConfig};
    use super::*;

    fn trained() -> Model {
        trained_with(0)
    }

    fn trained_with(threads: usize) -> Model {
        // Unequal class sizes give weights and ratios with long decimal expansions.
        let pos: Vec<String> = (0..47)
            .map(|i| format!("calm prose about rivers number {i}"))
            .collect();
        let neg: Vec<String> = (0..31)
            .map(|i| format!("<div class=nav>{i}</div>"))
            .collect();
        let cfg = TrainConfig {
            threads,
            dim: 4,
            buckets: 256,
            epochs: 2,
            labels: Some(Labels {
                positive: "prose".into(),
                negative: "markup".into(),
            }),
            ..TrainConfig::default()
        };
        train(&pos, &neg, &cfg).unwrap().0
    }

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("cfqc-test-{tag}-{}", std::process::id()));
            fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn round_trip() {
        let dir = TempDir::new("roundtrip");
        let path = dir.0.join("model.cfqc");
        let model = trained();
        model.save(&path).unwrap();
        let loaded = Model::load(&path).unwrap();
        assert_eq!(loaded, model);
        assert_eq!(loaded.labels().unwrap().positive, "prose");
        assert_eq!(loaded.score("calm prose"), model.score("calm prose"));
        let bytes = fs::read(&path).unwrap();
        assert_eq!(&bytes[..4], MAGIC);
        assert_eq!(
            bytes.len() as u64,
            PREFIX_LEN
                + u64::from_le_bytes(bytes[8..16].try_into().unwrap())
                + 4 * model.n_params()
                + TRAILER_LEN
        );
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(&dir.0).unwrap().count(), 1);
        // Loading and saving again reproduces the file byte for byte.
        let again = dir.0.join("again.cfqc");
        loaded.save(&again).unwrap();
        assert_eq!(fs::read(&again).unwrap(), bytes);
    }

    #[test]
    fn saved_files_identical_across_thread_counts() {
        let dir = TempDir::new("threads");
        let (one, two) = (dir.0.join("one.cfqc"), dir.0.join("two.cfqc"));
        trained_with(1).save(&one).unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        pool.install(|| trained_with(0)).save(&two).unwrap();
        assert_eq!(fs::read(&one).unwrap(), fs::read(&two).unwrap());
    }

    #[test]
    fn every_load_error() {
        let dir = TempDir::new("errors");
        let good = dir.0.join("good.cfqc");
        trained().save(&good).unwrap();
        let bytes = fs::read(&good).unwrap();
        let header_len = u64::from_le_bytes(bytes[8..16].try_into().unwrap()) as usize;
        let load = |name: &str, data: &[u8]| {
            let p = dir.0.join(name);
            fs::write(&p, data).unwrap();
            let err = Model::load(&p).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(name), "{msg}");
            err
        };

        let missing = dir.0.join("missing.cfqc");
        let err = Model::load(&missing).unwrap_err();
        assert!(
            matches!(&err, ClassifierError::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
        );
        assert!(err.to_string().contains("missing.cfqc"));

        assert!(matches!(
            load("empty", &[]),
            ClassifierError::Truncated { .. }
        ));
        assert!(matches!(
            load("short", &bytes[..10]),
            ClassifierError::Truncated { .. }
        ));
        assert!(matches!(
            load("in-header", &bytes[..20]),
            ClassifierError::Truncated { .. }
        ));
        let err = load("in-weights", &bytes[..bytes.len() - 100]);
        assert!(matches!(err, ClassifierError::Truncated { .. }), "{err}");

        let mut longer = bytes.clone();
        longer.extend_from_slice(&[0; 4]);
        assert!(matches!(
            load("longer", &longer),
            ClassifierError::SizeMismatch { .. }
        ));

        let mut html = b"<!DOCTYPE html><html>".to_vec();
        html.extend_from_slice(&bytes[4..]);
        let err = load("html", &html);
        assert!(matches!(err, ClassifierError::WrongMagic { .. }));
        assert!(
            err.to_string()
                .contains("not a corpusforge quality classifier (it starts with \"<!DOCTYPE"),
            "{err}"
        );
        assert!(matches!(
            load("tiny", b"PK"),
            ClassifierError::WrongMagic { .. }
        ));

        let mut v2 = bytes.clone();
        v2[4..8].copy_from_slice(&2u32.to_le_bytes());
        let err = load("v2", &v2);
        assert!(matches!(
            err,
            ClassifierError::UnsupportedVersion {
                found: 2,
                supported: 1,
                ..
            }
        ));

        let mut bad_json = bytes.clone();
        bad_json[16] = b'x';
        assert!(matches!(
            load("json", &bad_json),
            ClassifierError::InvalidHeader { .. }
        ));

        let mut flipped = bytes.clone();
        flipped[16 + header_len + 10] ^= 0x40;
        assert!(matches!(
            load("flipped", &flipped),
            ClassifierError::ChecksumMismatch { .. }
        ));
        let mut trailer = bytes.clone();
        *trailer.last_mut().unwrap() ^= 1;
        assert!(matches!(
            load("trailer", &trailer),
            ClassifierError::ChecksumMismatch { .. }
        ));

        // A header that parses but describes other features.
        let text = std::str::from_utf8(&bytes[16..16 + header_len]).unwrap();
        let altered = text.replace(&format!("\"unigram\":{SEED_UNIGRAM}"), "\"unigram\":1");
        assert_ne!(altered, text);
        let mut other = bytes[..8].to_vec();
        other.extend_from_slice(&(altered.len() as u64).to_le_bytes());
        other.extend_from_slice(altered.as_bytes());
        other.extend_from_slice(&bytes[16 + header_len..]);
        let err = load("seeds", &other);
        assert!(
            matches!(&err, ClassifierError::InvalidHeader { message, .. } if message.contains("feature definition")),
            "{err}"
        );
    }
}
