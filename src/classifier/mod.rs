//! Quality classifier: a fastText-style binary linear text classifier that tells
//! high-quality documents (positive) from the rest (negative).
//!
//! The pipeline has four stages, one file each:
//!
//! 1. [`features`]: lowercase each `unicode_words()` token and hash word unigrams and
//!    bigrams (and optionally character n-grams) into a fixed number of buckets. Runs of
//!    scripts written without spaces (CJK, Thai, ...) that segment into very long words
//!    get character 2-3 grams automatically. Only the first `max_words` words count, so
//!    scoring cost per document is bounded.
//! 2. [`Model`]: the fastText architecture: an embedding table (buckets x dim) averaged
//!    over a document's features gives a hidden vector, a linear layer plus bias gives a
//!    logit, and a sigmoid gives the probability of the positive class.
//! 3. [`train()`]: features are extracted in parallel, a seeded split sets aside a
//!    holdout of each class, and plain sequential SGD with logistic loss, class-balanced
//!    example weights and a linearly decaying learning rate fits the model. The result
//!    depends only on the data, the configuration and the seed, never on thread count.
//! 4. `file`: one self-checking file (`CFQC` magic, format version, JSON header with the
//!    configuration and holdout [`Metrics`], little-endian f32 weights, xxh3-64 trailer),
//!    written atomically by [`Model::save`] and verified by [`Model::load`].

mod error;
pub mod features;
mod file;
pub mod files;
mod metrics;
mod model;
mod rng;
mod train;

pub use error::ClassifierError;
pub use features::FeatureConfig;
pub use file::{FORMAT_VERSION, KIND, MAGIC};
pub use metrics::{roc_auc, Metrics};
pub use model::{Labels, Model, ModelConfig};
pub use train::{train, TrainConfig};
