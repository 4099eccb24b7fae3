//! Distinct values of an Arrow string-view column, for the activity importer
//! (`carbon_assets/engine/columns.py`): each distinct cell is then read once (a date, a unit, an
//! activity key) and the result gathered back by code. A ledger repeats a few hundred values over
//! a million lines.
//!
//! Codes follow first appearance, whatever the number of threads: chunks are encoded in parallel,
//! then their dictionaries are merged in chunk order.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use rayon::prelude::*;

use crate::text::view_cell;

/// FxHash (rustc's hasher): a multiply-rotate per word, fast on short keys; these keys are cell
/// texts of one file, not adversarial input that would need SipHash.
#[derive(Default)]
struct Fx(u64);

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            self.0 =
                (self.0.rotate_left(5) ^ u64::from_le_bytes(w.try_into().unwrap())).wrapping_mul(K);
        }
        for &b in words.remainder() {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(K);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type Map<'a> = HashMap<&'a [u8], u32, BuildHasherDefault<Fx>>;

const ROWS: usize = 1 << 16;
const NULL: u32 = u32::MAX;

/// (codes, distinct values in order of first appearance): code i is the index of cell i's value,
/// and null cells get code `values.len()`. Err(i) for a view pointing outside the buffers.
/// `valid`: Arrow validity bitmap (bit `offset + i`), None when every cell is non-null.
pub fn distinct<'a>(
    views: &'a [u8],
    buffers: &[&'a [u8]],
    valid: Option<(&[u8], usize)>,
) -> Result<(Vec<u32>, Vec<&'a [u8]>), usize> {
    let n = views.len() / 16;
    let mut codes = vec![0u32; n];
    let locals = codes
        .par_chunks_mut(ROWS)
        .enumerate()
        .map(|(c, out)| {
            let mut map = Map::default();
            let mut values = Vec::new();
            for (j, code) in out.iter_mut().enumerate() {
                let i = c * ROWS + j;
                if let Some((bits, offset)) = valid {
                    let k = offset + i;
                    if bits.get(k / 8).is_none_or(|b| b >> (k % 8) & 1 == 0) {
                        *code = NULL;
                        continue;
                    }
                }
                let cell = view_cell(views, buffers, i).ok_or(i)?;
                *code = *map.entry(cell).or_insert_with(|| {
                    values.push(cell);
                    values.len() as u32 - 1
                });
            }
            Ok(values)
        })
        .collect::<Result<Vec<Vec<&[u8]>>, usize>>()?;
    // merge in chunk order: local code -> global code
    let mut map = Map::default();
    let mut values: Vec<&[u8]> = Vec::new();
    let remaps: Vec<Vec<u32>> = locals
        .iter()
        .map(|local| {
            local
                .iter()
                .map(|&v| {
                    *map.entry(v).or_insert_with(|| {
                        values.push(v);
                        values.len() as u32 - 1
                    })
                })
                .collect()
        })
        .collect();
    let null = values.len() as u32;
    codes
        .par_chunks_mut(ROWS)
        .zip(remaps.par_iter())
        .for_each(|(out, remap)| {
            for code in out.iter_mut() {
                *code = if *code == NULL {
                    null
                } else {
                    remap[*code as usize]
                };
            }
        });
    Ok((codes, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(s: &[u8], buf: &mut Vec<u8>) -> [u8; 16] {
        let mut v = [0u8; 16];
        v[..4].copy_from_slice(&(s.len() as u32).to_le_bytes());
        if s.len() <= 12 {
            v[4..4 + s.len()].copy_from_slice(s);
        } else {
            v[4..8].copy_from_slice(&s[..4]);
            v[12..16].copy_from_slice(&(buf.len() as u32).to_le_bytes());
            buf.extend_from_slice(s);
        }
        v
    }

    #[test]
    fn codes_follow_first_appearance_across_chunks() {
        let words: [&[u8]; 4] = [b"kWh", b"litres de gazole", b"m3", b"tonnes.kilometre"];
        let n = 3 * ROWS + 17;
        let mut buf = Vec::new();
        let mut views = Vec::new();
        let mut bits = vec![0u8; n.div_ceil(8)];
        // value k appears first at row k * ROWS (a later chunk), and every 5th row is null
        let pick = |i: usize| {
            if i < 3 * ROWS {
                (i / ROWS).min(i % 3)
            } else {
                3
            }
        };
        for i in 0..n {
            views.extend_from_slice(&view(words[pick(i)], &mut buf));
            if i % 5 != 0 {
                bits[i / 8] |= 1 << (i % 8);
            }
        }
        let (codes, values) = distinct(&views, &[&buf], Some((&bits, 0))).unwrap();
        // first appearances: row 1 -> 0 (i%5 == 0 rows are null), so "kWh" is row 1, ...
        let mut first: Vec<&[u8]> = Vec::new();
        for i in 0..n {
            if i % 5 != 0 && !first.contains(&words[pick(i)]) {
                first.push(words[pick(i)]);
            }
        }
        assert_eq!(values, first);
        for i in 0..n {
            let want = if i % 5 == 0 {
                values.len()
            } else {
                values.iter().position(|v| *v == words[pick(i)]).unwrap()
            };
            assert_eq!(codes[i] as usize, want, "row {i}");
        }
    }
}
