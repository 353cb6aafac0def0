//! Pipeline configuration: YAML in, a typed [`Pipeline`] out, or every problem at once.
//!
//! Loading runs in four steps, each in its own file:
//!
//! 1. [`yaml`]: the text becomes a tree of nodes that know their line and column (aliases
//!    expanded by sharing, with a bound on the expanded size and depth).
//! 2. [`validate`]: the tree is checked against the JSON Schema generated from the types in
//!    [`types`] ([`json_schema`]); every unknown key, wrong type, missing field and bad value
//!    is reported with its position, and stages are checked against the schema of their
//!    `type` only.
//! 3. The tree is deserialized into [`Pipeline`] with serde.
//! 4. [`checks`]: semantic checks the schema cannot express ([`Check`]), mapped back to the
//!    position of the field they name.
//!
//! Problems come back as one [`ConfigError`]: `FILE:LINE:COL: [stages[i] (TYPE): ]PATH: MESSAGE`
//! per problem, sorted by position.

mod checks;
mod error;
pub mod experiment;
mod load;
mod schema;
mod types;
mod validate;
mod yaml;

pub use error::{ConfigError, Diagnostic};
pub use load::{load_file, load_str};
pub use schema::{check_committed_file, json_schema, json_schema_string};
pub use types::*;
