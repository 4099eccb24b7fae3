//! Text kernels for the activity importer: 8-bit code pages to UTF-8, and client numbers.
//!
//! The contract is the polars reference in `carbon_assets/engine/numbers.py` (`prepare`):
//! both paths give the same kind, percent flag, currency and EU/US readings for every cell,
//! which the Python tests check on hand-written and generated cells.

use rayon::prelude::*;

/// Windows-1252 code points of bytes 0x80..0x9F; 0 marks the five undefined bytes.
const CP1252_HIGH: [u16; 32] = [
    0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039,
    0x0152, 0, 0x017D, 0, 0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC,
    0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
];

/// UTF-8 bytes of the code point of each byte >= 0x80 (length 0 = undefined in Windows-1252).
/// UTF-8 bytes and length of the code point of each byte >= 0x80.
pub type HighTable = [([u8; 3], u8); 128];

pub(crate) fn high_table(cp1252: bool) -> HighTable {
    let mut t = [([0u8; 3], 0u8); 128];
    for (i, slot) in t.iter_mut().enumerate() {
        let b = 0x80 + i as u32;
        let cp = if cp1252 && b < 0xA0 {
            CP1252_HIGH[i] as u32
        } else {
            b
        };
        if cp == 0 {
            continue;
        }
        let mut buf = [0u8; 4];
        let n = char::from_u32(cp)
            .expect("code page table holds valid scalars")
            .encode_utf8(&mut buf)
            .len();
        slot.0[..n].copy_from_slice(&buf[..n]);
        slot.1 = n as u8;
    }
    t
}

const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
/// Transcoding works on blocks of this many input bytes, in parallel.
const BLOCK: usize = 1 << 20;

fn block_len(raw: &[u8], table: &[([u8; 3], u8); 128]) -> Result<usize, usize> {
    let mut n = raw.len();
    let words = raw.chunks_exact(8);
    let tail = words.remainder();
    let mut check = |at: usize, b: u8| -> Result<(), usize> {
        let len = table[(b - 0x80) as usize].1 as usize;
        if len == 0 {
            return Err(at);
        }
        n += len - 1;
        Ok(())
    };
    for (w, chunk) in words.enumerate() {
        if u64::from_le_bytes(chunk.try_into().unwrap()) & HIGH_BITS != 0 {
            for (j, &b) in chunk.iter().enumerate() {
                if b >= 0x80 {
                    check(w * 8 + j, b)?;
                }
            }
        }
    }
    let base = raw.len() - tail.len();
    for (j, &b) in tail.iter().enumerate() {
        if b >= 0x80 {
            check(base + j, b)?;
        }
    }
    Ok(n)
}

#[inline]
fn put(b: u8, table: &[([u8; 3], u8); 128], out: &mut [u8], o: &mut usize) {
    if b < 0x80 {
        out[*o] = b;
        *o += 1;
    } else {
        let (bytes, len) = table[(b - 0x80) as usize];
        out[*o..*o + len as usize].copy_from_slice(&bytes[..len as usize]);
        *o += len as usize;
    }
}

fn block_into(raw: &[u8], table: &[([u8; 3], u8); 128], out: &mut [u8]) {
    let mut o = 0;
    let words = raw.chunks_exact(8);
    let tail = words.remainder();
    for chunk in words {
        if u64::from_le_bytes(chunk.try_into().unwrap()) & HIGH_BITS == 0 {
            out[o..o + 8].copy_from_slice(chunk);
            o += 8;
        } else {
            for &b in chunk {
                put(b, table, out, &mut o);
            }
        }
    }
    for &b in tail {
        put(b, table, out, &mut o);
    }
}

/// Length of `raw` once transcoded and the length of each block's output, or Err(position) of an
/// undefined byte.
pub fn transcoded_len(raw: &[u8], cp1252: bool) -> Result<(usize, Vec<usize>), usize> {
    let table = high_table(cp1252);
    let lens: Vec<Result<usize, usize>> = raw
        .par_chunks(BLOCK)
        .enumerate()
        .map(|(k, block)| block_len(block, &table).map_err(|at| k * BLOCK + at))
        .collect();
    let lens: Vec<usize> = lens.into_iter().collect::<Result<_, _>>()?;
    Ok((lens.iter().sum(), lens))
}

/// Writes `raw` transcoded into `out`, whose length and block lengths come from `transcoded_len`.
pub fn transcode_into(raw: &[u8], cp1252: bool, block_lens: &[usize], out: &mut [u8]) {
    let table = high_table(cp1252);
    let mut outs = Vec::with_capacity(block_lens.len());
    let mut rest = out;
    for &n in block_lens {
        let (head, tail) = rest.split_at_mut(n);
        outs.push(head);
        rest = tail;
    }
    raw.par_chunks(BLOCK)
        .zip(outs.into_par_iter())
        .for_each(|(block, out)| block_into(block, &table, out));
}

/// Offset of the first byte Windows-1252 leaves undefined, if any (then the text is Latin-1).
pub fn first_undefined_cp1252(raw: &[u8]) -> Option<usize> {
    raw.par_chunks(BLOCK)
        .enumerate()
        .find_map_first(|(k, block)| {
            // bytes 0x80..=0x9F are rare: count them in a vectorised loop before looking closer
            let c1: usize = block
                .chunks(255)
                .map(|run| run.iter().fold(0u8, |n, &b| n + (b & 0xE0 == 0x80) as u8) as usize)
                .sum();
            if c1 == 0 {
                return None;
            }
            block
                .iter()
                .position(|&b| matches!(b, 0x81 | 0x8D | 0x8F | 0x90 | 0x9D))
                .map(|i| k * BLOCK + i)
        })
}

/// `raw` decoded as Windows-1252 (`cp1252 = true`) or Latin-1, re-encoded as UTF-8.
/// Err(position) for a byte Windows-1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D).
pub fn transcode_8bit(raw: &[u8], cp1252: bool) -> Result<Vec<u8>, usize> {
    let (len, blocks) = transcoded_len(raw, cp1252)?;
    let mut out = vec![0u8; len];
    transcode_into(raw, cp1252, &blocks, &mut out);
    Ok(out)
}

/// What the CSV reader needs to know about a UTF-8 text before parsing it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TextScan {
    pub newlines: usize,
    pub has_quote: bool,
    pub has_cr: bool,
}

fn scan_block(block: &[u8]) -> TextScan {
    // counted in 255-byte runs with u8 lanes: the compiler vectorises this loop
    let mut newlines = 0usize;
    for run in block.chunks(255) {
        newlines += run.iter().fold(0u8, |n, &b| n + (b == b'\n') as u8) as usize;
    }
    TextScan {
        newlines,
        has_quote: block.contains(&b'"'),
        has_cr: block.contains(&b'\r'),
    }
}

/// Newlines, quotes and carriage returns in `data[from..]`, in parallel blocks.
pub fn scan_text(data: &[u8], from: usize) -> TextScan {
    let from = from.min(data.len());
    data[from..]
        .par_chunks(BLOCK)
        .map(scan_block)
        .reduce(TextScan::default, |a, p| TextScan {
            newlines: a.newlines + p.newlines,
            has_quote: a.has_quote || p.has_quote,
            has_cr: a.has_cr || p.has_cr,
        })
}

/// Cell `i` of an Arrow string-view column: 16-byte views (length, then the bytes inline up to 12,
/// else prefix, buffer index and offset) over `buffers`; None when the view points outside them.
pub fn view_cell<'a>(views: &'a [u8], buffers: &[&'a [u8]], i: usize) -> Option<&'a [u8]> {
    let v = views.get(i * 16..i * 16 + 16)?;
    let word = |k: usize| u32::from_le_bytes(v[k..k + 4].try_into().unwrap()) as usize;
    let len = word(0);
    if len <= 12 {
        Some(&v[4..4 + len])
    } else {
        buffers.get(word(8))?.get(word(12)..word(12) + len)
    }
}

/// Whether some non-null cell starts or ends with whitespace (what `str::trim` would remove);
/// Err(i) for a view pointing outside the buffers. `valid`: Arrow validity bitmap (bit `offset + i`),
/// None when every cell is non-null.
pub fn any_padded(
    views: &[u8],
    buffers: &[&[u8]],
    valid: Option<(&[u8], usize)>,
) -> Result<bool, usize> {
    let n = views.len() / 16;
    for i in 0..n {
        if let Some((bits, offset)) = valid {
            let k = offset + i;
            if bits.get(k / 8).is_none_or(|b| b >> (k % 8) & 1 == 0) {
                continue; // null
            }
        }
        let cell = view_cell(views, buffers, i).ok_or(i)?;
        let (Some(&first), Some(&last)) = (cell.first(), cell.last()) else {
            continue;
        };
        let padded = if first.is_ascii() && last.is_ascii() {
            // char::is_whitespace on ASCII: TAB, LF, VT, FF, CR and space
            let ws = |b: u8| matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ');
            ws(first) || ws(last)
        } else {
            let s = String::from_utf8_lossy(cell);
            s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace)
        };
        if padded {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Kind of a number body, as `numbers.py` codes them.
pub const KIND_EMPTY: u8 = 0;
pub const KIND_INT: u8 = 1; // 1234
pub const KIND_AMBIGUOUS: u8 = 2; // 1,234 or 1.234
pub const KIND_EU: u8 = 3; // 1.234,5  1.234.567  12,5
pub const KIND_US: u8 = 4; // 1,234.5  1,234,567  12.5
pub const KIND_NONE: u8 = 5; // not a number

/// One parsed cell: kind, trailing-% flag, currency code (see `currency_code`), and the
/// signed value read with EU and with US marks (NaN when the kind has no reading).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Parsed {
    pub kind: u8,
    pub pct: bool,
    pub currency: u16,
    pub eu: f64,
    pub us: f64,
}

const EMPTY: Parsed = Parsed {
    kind: KIND_EMPTY,
    pct: false,
    currency: 0,
    eu: f64::NAN,
    us: f64::NAN,
};

fn all_digits(s: &[u8]) -> bool {
    s.iter().all(u8::is_ascii_digit)
}

/// `\d{1,3}(?:<sep>\d{3}){min_groups,}`
fn grouped(s: &[u8], sep: u8, min_groups: usize) -> bool {
    let mut parts = s.split(|&c| c == sep);
    let first = parts.next().unwrap_or(&[]);
    if first.is_empty() || first.len() > 3 || !all_digits(first) {
        return false;
    }
    let mut n = 0;
    for p in parts {
        if p.len() != 3 || !all_digits(p) {
            return false;
        }
        n += 1;
    }
    n >= min_groups
}

/// EU (`dec = b','`, `sep = b'.'`) or US (`dec = b'.'`, `sep = b','`) pattern of `numbers._PATTERNS`.
fn marked(s: &[u8], dec: u8, sep: u8) -> bool {
    let decs = s.iter().filter(|&&c| c == dec).count();
    match decs {
        0 => grouped(s, sep, 2),
        1 => {
            let at = s.iter().position(|&c| c == dec).unwrap();
            let (int, frac) = (&s[..at], &s[at + 1..]);
            if frac.is_empty() || !all_digits(frac) {
                return false;
            }
            all_digits(int) || grouped(int, sep, 1)
        }
        _ => false,
    }
}

pub fn kind_of(body: &[u8]) -> u8 {
    if !body.is_empty() && all_digits(body) {
        return KIND_INT;
    }
    if ambiguous(body) {
        return KIND_AMBIGUOUS;
    }
    if marked(body, b',', b'.') {
        return KIND_EU;
    }
    if marked(body, b'.', b',') {
        return KIND_US;
    }
    KIND_NONE
}

/// `[1-9]\d{0,2}[.,]\d{3}`
fn ambiguous(s: &[u8]) -> bool {
    let Some(at) = s.iter().position(|&c| c == b'.' || c == b',') else {
        return false;
    };
    let (int, frac) = (&s[..at], &s[at + 1..]);
    (1..=3).contains(&int.len())
        && int[0] != b'0'
        && all_digits(int)
        && frac.len() == 3
        && all_digits(frac)
}

/// Powers of ten that are exact in f64.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The signed value of `body` with `dec` as decimal mark and `drop` as grouping mark.
/// Clinger's fast path when the digits fit: an exact integer divided by an exact power of ten is
/// correctly rounded, so the result equals `str::parse`, which handles every other case.
fn reading(body: &[u8], minus: bool, drop: u8, dec: u8) -> f64 {
    let (mut m, mut frac, mut digits, mut in_frac) = (0u64, 0usize, 0usize, false);
    let mut fast = true;
    for &c in body {
        if c.is_ascii_digit() {
            m = m * 10 + (c - b'0') as u64;
            digits += 1;
            frac += in_frac as usize;
            if digits > 15 {
                fast = false;
                break;
            }
        } else if c == dec && !in_frac {
            in_frac = true;
        } else if c != drop {
            fast = false;
            break;
        }
    }
    if fast && digits > 0 && frac < POW10.len() {
        let v = m as f64 / POW10[frac];
        return if minus { -v } else { v };
    }
    parsed_reading(body, minus, drop, dec)
}

/// A scratch buffer for one cell: on the stack for short cells, on the heap for long ones.
struct Scratch {
    stack: [u8; 64],
    heap: Vec<u8>,
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch {
            stack: [0; 64],
            heap: Vec::new(),
        }
    }
}

impl Scratch {
    fn get(&mut self, len: usize) -> &mut [u8] {
        if len <= self.stack.len() {
            &mut self.stack
        } else {
            self.heap.resize(len, 0);
            &mut self.heap
        }
    }
}

fn parsed_reading(body: &[u8], minus: bool, drop: u8, dec: u8) -> f64 {
    let mut scratch = Scratch::default();
    let buf = scratch.get(body.len());
    let mut n = 0;
    let mut dec_seen = false;
    for &c in body {
        if c == drop {
            continue;
        }
        buf[n] = if c == dec && !dec_seen {
            dec_seen = true;
            b'.'
        } else {
            c
        };
        n += 1;
    }
    let v = std::str::from_utf8(&buf[..n])
        .ok()
        .and_then(|t| t.parse::<f64>().ok())
        .unwrap_or(f64::NAN);
    if minus {
        -v
    } else {
        v
    }
}

/// Lengths (bytes) of the currency alternatives `[€$£¥] | US\$ | [A-Z]{3}` matching at `s[p..]`, in order.
fn currency_at(s: &str, p: usize) -> [Option<usize>; 3] {
    let rest = &s[p..];
    let sym = rest
        .chars()
        .next()
        .filter(|c| matches!(c, '€' | '$' | '£' | '¥'))
        .map(char::len_utf8);
    let usd = rest.starts_with("US$").then_some(3);
    let b = rest.as_bytes();
    let code = (b.len() >= 3 && b[..3].iter().all(u8::is_ascii_uppercase)).then_some(3);
    [sym, usd, code]
}

/// Currency code: 0 none, 1-4 € $ £ ¥, 5 US$, 6 + (26*26*a + 26*b + c) for three letters.
pub fn currency_code(text: &str) -> u16 {
    match text {
        "" => 0,
        "€" => 1,
        "$" => 2,
        "£" => 3,
        "¥" => 4,
        "US$" => 5,
        _ => {
            let b = text.as_bytes();
            6 + 676 * (b[0] - b'A') as u16 + 26 * (b[1] - b'A') as u16 + (b[2] - b'A') as u16
        }
    }
}

/// `^[-+(]*(CUR)`: the (start, end) of the leading currency.
fn prefix_currency(s: &str) -> Option<(usize, usize)> {
    let p = s
        .bytes()
        .take_while(|c| matches!(c, b'-' | b'+' | b'('))
        .count();
    currency_at(s, p)
        .into_iter()
        .flatten()
        .next()
        .map(|n| (p, p + n))
}

/// `(CUR)\)?$`, leftmost match: the (start, end) of the trailing currency.
fn suffix_currency(s: &str) -> Option<(usize, usize)> {
    let n = s.len();
    for (p, _) in s.char_indices() {
        for len in currency_at(s, p).into_iter().flatten() {
            let end = p + len;
            if end == n || (end + 1 == n && s.as_bytes()[end] == b')') {
                return Some((p, end));
            }
        }
    }
    None
}

fn finish(body: &[u8], minus: bool, pct: bool, currency: u16) -> Parsed {
    let kind = kind_of(body);
    // only the readings a convention can use: EU for EU kinds, US for US kinds, both when ambiguous
    let eu = match kind {
        KIND_INT | KIND_AMBIGUOUS | KIND_EU => reading(body, minus, b'.', b','),
        _ => f64::NAN,
    };
    let us = match kind {
        KIND_INT => eu,
        KIND_AMBIGUOUS | KIND_US => reading(body, minus, b',', b'.'),
        _ => f64::NAN,
    };
    Parsed {
        kind,
        pct,
        currency,
        eu,
        us,
    }
}

/// A quantity cell: `^(\()?([-+])?([0-9.,]*)(%)?(\))?$` after removing blanks; no currency allowed.
fn parse_plain(s: &str) -> Parsed {
    let b = s.as_bytes();
    let mut i = 0;
    let open = b.first() == Some(&b'(');
    i += open as usize;
    let sign = b.get(i).copied().filter(|c| matches!(c, b'-' | b'+'));
    i += sign.is_some() as usize;
    let start = i;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.' || b[i] == b',') {
        i += 1;
    }
    let body = &b[start..i];
    let pct = b.get(i) == Some(&b'%');
    i += pct as usize;
    let close = b.get(i) == Some(&b')');
    i += close as usize;
    if i != b.len() {
        return Parsed {
            kind: KIND_NONE,
            ..EMPTY
        }; // the pattern does not match: no group is set
    }
    if open != close {
        return Parsed {
            kind: KIND_NONE,
            pct,
            ..EMPTY
        };
    }
    finish(body, sign == Some(b'-') || open, pct, 0)
}

/// An amount cell: currency before or after the number, `%`, parentheses, sign.
fn parse_money(s: &str) -> Parsed {
    let cur1 = prefix_currency(s);
    let cur2 = suffix_currency(s);
    let currency = cur1
        .or(cur2)
        .map(|(a, b)| currency_code(&s[a..b]))
        .unwrap_or(0);
    let mut b0 = match cur1 {
        Some((a, b)) => format!("{}{}", &s[..a], &s[b..]),
        None => s.to_string(),
    };
    if let Some((a, b)) = suffix_currency(&b0) {
        b0 = format!("{}{}", &b0[..a], &b0[b..]);
    }
    let pct = b0.ends_with('%');
    let b1 = b0.strip_suffix('%').unwrap_or(&b0);
    let paren = b1.starts_with('(') && b1.ends_with(')');
    let b2 = if paren {
        let inner = &b1[1..];
        inner.strip_suffix(')').unwrap_or(inner)
    } else {
        b1
    };
    let minus = b2.starts_with('-') || paren;
    let body = b2.strip_prefix(['-', '+']).unwrap_or(b2);
    finish(body.as_bytes(), minus, pct, currency)
}

/// One cell (`None` = null). `currency`: the column may carry a currency (spend amounts).
pub fn parse_number(cell: Option<&str>, currency: bool) -> Parsed {
    let Some(cell) = cell else { return EMPTY };
    let b = cell.as_bytes();
    if !b
        .iter()
        .any(|&c| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\'' | 0xC2 | 0xE2))
    {
        return parse_unblanked(cell, currency); // the common case: nothing to remove
    }
    let mut scratch = Scratch::default();
    let buf = scratch.get(b.len());
    let (mut i, mut n) = (0, 0);
    while i < b.len() {
        // blanks: ASCII ones, U+00A0 (C2 A0), U+202F (E2 80 AF), U+2019 (E2 80 99)
        let skip = match b[i] {
            b' ' | b'\t' | b'\n' | b'\r' | b'\'' => 1,
            0xC2 if b.get(i + 1) == Some(&0xA0) => 2,
            0xE2 if b.get(i + 1) == Some(&0x80) && matches!(b.get(i + 2), Some(0xAF | 0x99)) => 3,
            _ => 0,
        };
        if skip > 0 {
            i += skip;
        } else {
            buf[n] = b[i];
            n += 1;
            i += 1;
        }
    }
    // removing whole UTF-8 sequences from valid UTF-8 leaves valid UTF-8
    parse_unblanked(
        std::str::from_utf8(&buf[..n]).unwrap_or("\u{fffd}"),
        currency,
    )
}

fn parse_unblanked(s: &str, currency: bool) -> Parsed {
    if s.is_empty() {
        return EMPTY;
    }
    if currency {
        parse_money(s)
    } else {
        parse_plain(s)
    }
}

/// Output columns of [`parse_column`], one entry per cell.
pub struct ParsedColumn<'a> {
    pub kind: &'a mut [u8],
    pub pct: &'a mut [bool],
    pub currency: &'a mut [u16],
    pub eu: &'a mut [f64],
    pub us: &'a mut [f64],
}

/// Every cell of an Arrow-layout string column (cell i = `data[offsets[i]..offsets[i+1]]`, null where
/// `nulls[i]`), in parallel blocks. The offsets must be in range (checked by the caller).
pub fn parse_column(
    offsets: &[i64],
    data: &[u8],
    nulls: &[bool],
    currency: bool,
    out: ParsedColumn,
) {
    const CELLS: usize = 16 * 1024;
    out.kind
        .par_chunks_mut(CELLS)
        .zip(out.pct.par_chunks_mut(CELLS))
        .zip(out.currency.par_chunks_mut(CELLS))
        .zip(out.eu.par_chunks_mut(CELLS))
        .zip(out.us.par_chunks_mut(CELLS))
        .enumerate()
        .for_each(|(c, ((((kind, pct), cur), eu), us))| {
            for j in 0..kind.len() {
                let i = c * CELLS + j;
                let cell = &data[offsets[i] as usize..offsets[i + 1] as usize];
                let p = match (nulls[i], std::str::from_utf8(cell)) {
                    (true, _) => EMPTY,
                    (false, Ok(s)) => parse_number(Some(s), currency),
                    (false, Err(_)) => parse_number(Some("\u{fffd}"), currency),
                };
                (kind[j], pct[j], cur[j], eu[j], us[j]) = (p.kind, p.pct, p.currency, p.eu, p.us);
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Parsed {
        parse_number(Some(s), false)
    }

    fn m(s: &str) -> Parsed {
        parse_number(Some(s), true)
    }

    #[test]
    fn cp1252_and_latin1() {
        let raw = b"Soci\xe9t\xe9 \x80 12\x92s";
        let out = transcode_8bit(raw, true).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "Société € 12’s");
        assert_eq!(transcode_8bit(b"a\x81b", true), Err(1));
        let l1 = transcode_8bit(b"\x80\xff", false).unwrap();
        assert_eq!(String::from_utf8(l1).unwrap(), "\u{80}\u{ff}");
        let long = [b'a'; 100];
        assert_eq!(transcode_8bit(&long, true).unwrap(), long.to_vec());
    }

    #[test]
    fn blocks_agree_with_a_byte_by_byte_reference() {
        // 2.5 blocks of mixed ASCII and high bytes; a block boundary falls inside no character
        let raw: Vec<u8> = (0..(BLOCK * 5 / 2))
            .map(|i| {
                if i % 7 == 0 {
                    0xE9
                } else if i % 11 == 0 {
                    0x80
                } else {
                    b'a' + (i % 26) as u8
                }
            })
            .collect();
        let reference: String = raw
            .iter()
            .map(|&b| match b {
                0x80 => '€',
                b => b as char,
            })
            .collect();
        assert_eq!(transcode_8bit(&raw, true).unwrap(), reference.into_bytes());
        let mut bad = raw.clone();
        bad[BLOCK + 12] = 0x9D;
        assert_eq!(transcode_8bit(&bad, true), Err(BLOCK + 12));
    }

    #[test]
    fn scans() {
        let t = scan_text(b"pre\na;b\n\"x\";1\n", 4);
        assert_eq!(
            t,
            TextScan {
                newlines: 2,
                has_quote: true,
                has_cr: false
            }
        );
        assert!(scan_text(b"a\r\nb", 0).has_cr);
        assert!(!scan_text(b"\"a\r\nb", 1).has_quote);
        assert_eq!(scan_text(b"abc", 9), TextScan::default());
        let big = vec![b'\n'; BLOCK * 2 + 5];
        assert_eq!(scan_text(&big, 3).newlines, BLOCK * 2 + 2);
    }

    #[test]
    fn fast_readings_equal_str_parse() {
        let bodies = [
            "0",
            "7",
            "12,5",
            "1.234,56",
            "0,1",
            "0,3",
            ",5",
            "123456789012345",
            "9007199254740993",
            "1.234.567,891",
            "0,000000000000000000001",
            "99999,999999999",
            "1234567890123456789",
        ];
        for b in bodies {
            for minus in [false, true] {
                let fast = reading(b.as_bytes(), minus, b'.', b',');
                let slow = parsed_reading(b.as_bytes(), minus, b'.', b',');
                assert_eq!(fast.to_bits(), slow.to_bits(), "{b}");
            }
        }
    }

    #[test]
    fn padded_cells_in_views() {
        fn view(cell: &[u8], buf: u32, offset: u32) -> Vec<u8> {
            let mut v = (cell.len() as u32).to_le_bytes().to_vec();
            if cell.len() <= 12 {
                v.extend_from_slice(cell);
                v.resize(16, 0);
            } else {
                v.extend_from_slice(&cell[..4]);
                v.extend_from_slice(&buf.to_le_bytes());
                v.extend_from_slice(&offset.to_le_bytes());
            }
            v
        }
        let long = b"a long cell of text ";
        let data: Vec<u8> = [b"xx".as_slice(), long].concat();
        let mut views = [view(b"abc", 0, 0), view(long, 0, 2)].concat();
        assert_eq!(view_cell(&views, &[&data], 1), Some(long.as_slice()));
        // the long cell's trailing space
        assert_eq!(any_padded(&views, &[&data], None), Ok(true));
        // bit 1 of the validity bitmap cleared: the long cell is null; offset 3 shifts the bits
        assert_eq!(any_padded(&views, &[&data], Some((&[0b01], 0))), Ok(false));
        assert_eq!(
            any_padded(&views, &[&data], Some((&[0b1000], 3))),
            Ok(false)
        );
        assert_eq!(any_padded(&views, &[], None), Err(1)); // outside the buffers
        views.extend(view("\u{a0}x".as_bytes(), 0, 0));
        assert_eq!(any_padded(&views, &[&data], Some((&[0b101], 0))), Ok(true));
        let ok = [
            view(b"a b", 0, 0),
            view(b"", 0, 0),
            view("caf\u{e9}".as_bytes(), 0, 0),
        ]
        .concat();
        assert_eq!(any_padded(&ok, &[], None), Ok(false));
    }

    #[test]
    fn kinds() {
        assert_eq!(kind_of(b"1234"), KIND_INT);
        assert_eq!(kind_of(b"1,234"), KIND_AMBIGUOUS);
        assert_eq!(kind_of(b"1.234"), KIND_AMBIGUOUS);
        assert_eq!(kind_of(b"0,234"), KIND_EU);
        assert_eq!(kind_of(b"1.234,5"), KIND_EU);
        assert_eq!(kind_of(b"1.234.567"), KIND_EU);
        assert_eq!(kind_of(b",5"), KIND_EU);
        assert_eq!(kind_of(b"1,234.5"), KIND_US);
        assert_eq!(kind_of(b"1,234,567"), KIND_US);
        assert_eq!(kind_of(b"12.5"), KIND_US);
        assert_eq!(kind_of(b"1.23,4.5"), KIND_NONE);
        assert_eq!(kind_of(b""), KIND_NONE);
        assert_eq!(kind_of(b"12a"), KIND_NONE);
    }

    #[test]
    fn readings() {
        let v = p("1 234,56");
        assert_eq!((v.kind, v.eu), (KIND_EU, 1234.56));
        let v = p("(1.234,5)");
        assert_eq!((v.kind, v.eu), (KIND_EU, -1234.5));
        let v = p("-12.5%");
        assert_eq!((v.kind, v.us, v.pct), (KIND_US, -12.5, true));
        assert_eq!(p("(12").kind, KIND_NONE);
        assert_eq!(p("12 EUR").kind, KIND_NONE);
        assert_eq!(parse_number(None, false).kind, KIND_EMPTY);
        assert_eq!(p(" \u{a0}").kind, KIND_EMPTY);
    }

    #[test]
    fn money() {
        let v = m("1 234,50 €");
        assert_eq!((v.kind, v.eu, v.currency), (KIND_EU, 1234.5, 1));
        let v = m("(USD 1,200.00)");
        assert_eq!(
            (v.kind, v.us, v.currency),
            (KIND_US, -1200.0, currency_code("USD"))
        );
        let v = m("-US$12.5");
        assert_eq!((v.kind, v.us, v.currency), (KIND_US, -12.5, 5));
        let v = m("12GBP)");
        assert_eq!(v.currency, currency_code("GBP"));
    }
}
