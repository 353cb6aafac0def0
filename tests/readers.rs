use std::path::Path;
use corpusforge::config::{InputSpec, TxtMode};
use corpusforge::io::input::{open, resolve_inputs};

fn spec(paths: &[&str]) -> InputSpec {
    InputSpec {
        paths: paths.iter().map(|s| s.to_string()).collect(),
        format: None,
        text_field: "text".into(),
        id_field: Some("id".into()),
        metadata_fields: vec!["source".into(), "lang".into(), "url".into()],
        txt_mode: TxtMode::File,
        max_line_bytes: 1000,
    }
}

#[test]
fn dump() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    for p in ["bad", "jsonl_gz", "jsonl_zst", "parquet"] {
        let s = spec(&[p]);
        let files = match resolve_inputs(&s, &base) { Ok(f) => f, Err(e) => { println!("ERR {e}"); continue } };
        for f in files {
            println!("== {} {:?} {}", f.display, f.format, f.size);
            match open(&f, &s) {
                Err(e) => println!("  OPEN ERR {e}"),
                Ok(it) => for r in it.take(40) {
                    match r { Ok(d) => println!("  ok {} {:?} {:?}", d.id, d.text.chars().take(30).collect::<String>(), d.metadata), Err(e) => println!("  REJ {} {} | {} | {:?}", e.location, e.reason, e.detail, e.raw.chars().take(40).collect::<String>()) }
                }
            }
        }
    }
}
