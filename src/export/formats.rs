//! Token files for other trainers, one document per token shard row, in shard and row order:
//!
//! - **Megatron-LM** (`megatron`): the indexed dataset `SPLIT_text_document.bin` (the tokens)
//!   and `.idx`: `MMIDIDX\0\0`, version 1 (u64), the dtype code (u8: 8 = uint16, 4 = int32),
//!   the sequence count (u64), the document count (u64, sequences + 1), then the sequence
//!   lengths (int32), their byte offsets in the `.bin` (int64) and the document indices (int64,
//!   `0, 1, ..., n`: one sequence per document). uint16 when the vocabulary has fewer than
//!   65,500 tokens, as Megatron's `DType.optimal_dtype` chooses, int32 otherwise.
//! - **datatrove / nanotron** (`datatrove`): `SPLIT/000_SPLIT.ds` (the tokens, 2 bytes each when
//!   every id fits 16 bits, else 4), `.ds.index` (each document's end, in tokens, as u64) and
//!   `.ds.metadata` (`TOKENIZER|TOKEN_SIZE` and the token count), as datatrove's tokenizer writes
//!   them; a split per folder, as `DatatroveFolderDataset` reads a folder.
//! - **numpy** (`npy`): `SPLIT_tokens.npy` (a flat uint16 or uint32 array, for `np.load(...,
//!   mmap_mode="r")`) and `SPLIT_offsets.npy` (int64, documents + 1 entries: document `i` is
//!   `tokens[offsets[i]:offsets[i + 1]]`).
//!
//! Every file is written under a temporary name and committed when complete.

use std::path::{Path, PathBuf};

use super::{ExportError, ExportedFile, Out};
use crate::stages::tokenize::shards::read_token_shard;

/// The token file formats besides llm.c's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Megatron-LM's indexed dataset.
    Megatron,
    /// datatrove's `.ds` files.
    Datatrove,
    /// numpy `.npy` arrays.
    Npy,
}

/// Bytes per token: 2 when every id of the run fits (`< limit`), else 4.
fn token_bytes(max_id: u32, limit: u64) -> usize {
    if (max_id as u64) < limit {
        2
    } else {
        4
    }
}

fn push_tokens(buf: &mut Vec<u8>, tokens: &[u32], width: usize) {
    for &t in tokens {
        if width == 2 {
            buf.extend_from_slice(&(t as u16).to_le_bytes());
        } else {
            buf.extend_from_slice(&t.to_le_bytes());
        }
    }
}

/// The largest token id of the run: from its manifest's token summary, else read from the shards.
fn max_token_id(
    summary: Option<&crate::stages::tokenize::TokenSummary>,
    splits: &[(&str, Vec<PathBuf>)],
) -> Result<u32, ExportError> {
    if let Some(t) = summary {
        return Ok(t
            .max_token_id
            .max(t.vocab_size.saturating_sub(1).min(u32::MAX as u64) as u32));
    }
    let mut max = 0;
    for (_, shards) in splits {
        for shard in shards {
            for rows in read_token_shard(shard, 4096)? {
                for r in rows? {
                    max = r.tokens.iter().copied().fold(max, u32::max);
                }
            }
        }
    }
    Ok(max)
}

/// The npy header for a flat array of `len` items of `descr`, padded to 128 bytes so that it
/// can be written first and rewritten with the final length.
fn npy_header(descr: &str, len: u64) -> Vec<u8> {
    const TOTAL: usize = 128;
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({len},), }}");
    while 10 + dict.len() + 1 < TOTAL {
        dict.push(' ');
    }
    dict.push('\n');
    let mut h = b"\x93NUMPY\x01\x00".to_vec();
    h.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    h.extend_from_slice(dict.as_bytes());
    h
}

/// Writes the token shards of the run in `out` as `format` files in `dir`, train first.
pub fn export(out: &Path, dir: &Path, format: Format) -> Result<Vec<ExportedFile>, ExportError> {
    let splits = super::token_splits(out)?;
    let summary = crate::manifest::read(&out.join("manifest.json")).and_then(|m| m.tokens);
    let max_id = max_token_id(summary.as_ref(), &splits)?;
    let tokenizer = summary.map_or_else(|| "corpusforge".to_string(), |t| t.tokenizer);
    let mut written = Vec::new();
    for (split, shards) in &splits {
        written.extend(export_split(
            split, shards, dir, format, max_id, &tokenizer,
        )?);
    }
    Ok(written)
}

fn export_split(
    split: &str,
    shards: &[PathBuf],
    dir: &Path,
    format: Format,
    max_id: u32,
    tokenizer: &str,
) -> Result<Vec<ExportedFile>, ExportError> {
    // Megatron switches to int32 at 65,500 tokens of vocabulary; the others when an id does
    // not fit 16 bits.
    let width = match format {
        Format::Megatron => token_bytes(max_id, 65_499),
        Format::Datatrove | Format::Npy => token_bytes(max_id, 1 << 16),
    };
    let data_path = match format {
        Format::Megatron => dir.join(format!("{split}_text_document.bin")),
        Format::Datatrove => dir.join(split).join(format!("000_{split}.ds")),
        Format::Npy => dir.join(format!("{split}_tokens.npy")),
    };
    let npy_descr = if width == 2 { "<u2" } else { "<u4" };
    let mut data = Out::create(data_path)?;
    if format == Format::Npy {
        data.write(&npy_header(npy_descr, 0))?;
    }
    // Per document: its length in tokens.
    let mut lengths: Vec<u64> = Vec::new();
    let mut total = 0u64;
    let mut buf = Vec::new();
    let result = (|| -> Result<(), ExportError> {
        for shard in shards {
            for rows in read_token_shard(shard, 4096)? {
                for r in rows? {
                    buf.clear();
                    push_tokens(&mut buf, &r.tokens, width);
                    data.write(&buf)?;
                    lengths.push(r.tokens.len() as u64);
                    total += r.tokens.len() as u64;
                }
            }
        }
        if format == Format::Npy {
            data.rewind()?;
            data.write(&npy_header(npy_descr, total))?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        data.abandon();
        return Err(e);
    }
    let data_path = data.finish()?;
    let mut files = vec![ExportedFile {
        split: split.to_string(),
        path: data_path.clone(),
        tokens: total,
    }];
    let mut index = Vec::new();
    let index_path = match format {
        Format::Megatron => {
            index.extend_from_slice(b"MMIDIDX\x00\x00");
            index.extend_from_slice(&1u64.to_le_bytes());
            index.push(if width == 2 { 8 } else { 4 });
            let n = lengths.len() as u64;
            index.extend_from_slice(&n.to_le_bytes());
            index.extend_from_slice(&(n + 1).to_le_bytes());
            for &l in &lengths {
                let l = i32::try_from(l).map_err(|_| ExportError::DoesNotFit {
                    path: data_path.clone(),
                    message: format!(
                        "a document of {l} tokens: Megatron counts a sequence in int32"
                    ),
                })?;
                index.extend_from_slice(&l.to_le_bytes());
            }
            let mut at = 0i64;
            for &l in &lengths {
                index.extend_from_slice(&at.to_le_bytes());
                at += (l as usize * width) as i64;
            }
            for i in 0..=n as i64 {
                index.extend_from_slice(&i.to_le_bytes());
            }
            data_path.with_extension("idx")
        }
        Format::Datatrove => {
            let mut end = 0u64;
            for &l in &lengths {
                end += l;
                index.extend_from_slice(&end.to_le_bytes());
            }
            let meta = format!("{tokenizer}|{width}\n{total}");
            let mut m = Out::create(data_path.with_extension("ds.metadata"))?;
            m.write(meta.as_bytes())?;
            files.push(ExportedFile {
                split: split.to_string(),
                path: m.finish()?,
                tokens: total,
            });
            data_path.with_extension("ds.index")
        }
        Format::Npy => {
            index.extend_from_slice(&npy_header("<i8", lengths.len() as u64 + 1));
            let mut at = 0i64;
            index.extend_from_slice(&at.to_le_bytes());
            for &l in &lengths {
                at += l as i64;
                index.extend_from_slice(&at.to_le_bytes());
            }
            dir.join(format!("{split}_offsets.npy"))
        }
    };
    let mut idx = Out::create(index_path)?;
    idx.write(&index)?;
    files.push(ExportedFile {
        split: split.to_string(),
        path: idx.finish()?,
        tokens: total,
    });
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_headers_are_aligned_and_fixed_in_size() {
        for n in [0u64, 7, u64::MAX] {
            let h = npy_header("<u2", n);
            assert_eq!(h.len(), 128);
            assert_eq!(&h[..8], b"\x93NUMPY\x01\x00");
            assert_eq!(u16::from_le_bytes([h[8], h[9]]) as usize, 118);
            let text = std::str::from_utf8(&h[10..]).unwrap();
            assert!(text.starts_with(&format!(
                "{{'descr': '<u2', 'fortran_order': False, 'shape': ({n},), }}"
            )));
            assert!(text.ends_with('\n'));
        }
    }

    #[test]
    fn widths_follow_each_format() {
        assert_eq!(token_bytes(65_498, 65_499), 2);
        assert_eq!(token_bytes(65_499, 65_499), 4);
        assert_eq!(token_bytes(65_535, 1 << 16), 2);
        assert_eq!(token_bytes(65_536, 1 << 16), 4);
    }
}
