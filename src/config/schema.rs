//! The JSON Schema of the pipeline YAML, generated from the config types.
//!
//! `schemas/pipeline.schema.json` is this schema, committed so editors and reviewers can use
//! it; a test fails when it is stale. Regenerate it with
//! `CORPUSFORGE_BLESS=1 cargo test --release config`.

use serde_json::Value;

use super::Pipeline;

/// The JSON Schema (draft 2020-12) of a pipeline file, generated from [`Pipeline`].
pub fn json_schema() -> Value {
    let schema = schemars::schema_for!(Pipeline);
    // Serializing (rather than `Schema::to_value`) puts the keywords in schemars' canonical
    // order ($schema, title, description, type, properties, ...), which reads better.
    serde_json::to_value(&schema).unwrap_or_else(|_| schema.to_value())
}

/// [`json_schema`] as pretty-printed JSON with a trailing newline: the content of
/// `schemas/pipeline.schema.json`.
pub fn json_schema_string() -> String {
    format!("{:#}\n", json_schema())
}

/// Checks that the committed file at `path` holds exactly `expected` (a generated schema);
/// with `CORPUSFORGE_BLESS` set it writes the file instead. The error says how to regenerate
/// it with `regenerate` (a cargo command).
pub fn check_committed_file(
    path: &std::path::Path,
    expected: &str,
    regenerate: &str,
) -> Result<(), String> {
    if std::env::var_os("CORPUSFORGE_BLESS").is_some() {
        return std::fs::write(path, expected).map_err(|e| format!("{}: {e}", path.display()));
    }
    let on_disk = std::fs::read_to_string(path).unwrap_or_default();
    if on_disk == expected {
        Ok(())
    } else {
        Err(format!(
            "{} is stale; regenerate it with\n    CORPUSFORGE_BLESS=1 {regenerate}\nand commit the result",
            path.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/pipeline.schema.json");

    #[test]
    fn schema_file_is_up_to_date() {
        let path = std::path::Path::new(SCHEMA_FILE);
        check_committed_file(path, &json_schema_string(), "cargo test --release config")
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Every struct must be `deny_unknown_fields`: otherwise a typo in its keys is silently
    /// ignored (the validator only reports unknown keys where the schema closes the object).
    #[test]
    fn every_object_rejects_unknown_keys() {
        fn walk(schema: &Value, at: String, open: &mut Vec<String>) {
            match schema {
                Value::Object(map) => {
                    if map.contains_key("properties")
                        && map.get("additionalProperties") != Some(&Value::Bool(false))
                    {
                        open.push(at.clone());
                    }
                    for (k, v) in map {
                        walk(v, format!("{at}/{k}"), open);
                    }
                }
                Value::Array(items) => {
                    for (i, v) in items.iter().enumerate() {
                        walk(v, format!("{at}/{i}"), open);
                    }
                }
                _ => {}
            }
        }
        let mut open = Vec::new();
        walk(&json_schema(), String::new(), &mut open);
        assert!(
            open.is_empty(),
            "add #[serde(deny_unknown_fields)] to the types at {open:?}"
        );
    }

    #[test]
    fn stages_are_a_tagged_union() {
        let schema = json_schema();
        let variants = schema
            .pointer("/$defs/StageSpec/oneOf")
            .and_then(Value::as_array);
        let tags: Vec<&str> = variants
            .into_iter()
            .flatten()
            .filter_map(|v| v.pointer("/properties/type/const").and_then(Value::as_str))
            .collect();
        assert!(
            tags.contains(&"length") && tags.contains(&"normalize"),
            "{tags:?}"
        );
    }
}
