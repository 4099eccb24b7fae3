//! CSV text split into Arrow string-view columns, for the activity importer
//! (`carbon_assets/engine/readers.py`, whose `csv`-module reader is the reference).
//!
//! Contract: one record per line. A cell is trimmed as `str::trim` does and an empty cell is null.
//! A line whose cells are all empty is not a row. A row with a non-empty cell beyond the header's
//! count is ragged: it is reported with the count of cells up to its last non-empty one.
//! Quoting (when enabled): a field that starts with `"` runs to the next lone `"`, and `""` inside
//! it is one quote. Anything else (a quote inside an unquoted field, text after a closing quote,
//! a quoted field that spans lines) is declined, and the caller falls back to its general readers.
//!
//! Cells are views: into the input itself when their bytes are already UTF-8 (buffer 0), else
//! into a side buffer of their chunk (buffer 1) that holds transcoded or unescaped text. The file
//! is cut into chunks at line starts and the chunks are split in parallel.

use memchr::memchr;
use rayon::prelude::*;

use crate::text::{high_table, HighTable};
use crate::views::push_view;

/// How the input bytes are encoded; the 8-bit code pages are transcoded cell by cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    Utf8,
    Cp1252,
    Latin1,
}

#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub delim: u8,
    pub quote: bool,
    pub ncols: usize,
    pub codec: Codec,
}

#[derive(Debug, PartialEq, Eq)]
pub enum SplitError {
    /// Not a one-record-per-line text this splitter is sure to read as the reference does.
    Declined,
    /// Byte offset of a byte Windows-1252 leaves undefined.
    Undefined(usize),
    /// The input or a side buffer is too large for 32-bit view offsets.
    TooLarge,
}

/// One chunk's rows.
#[derive(Debug, Default)]
pub struct Chunk {
    pub rows: usize,
    /// Per column: 16 bytes per row (Arrow string views; buffer 0 = input, 1 = `side`).
    pub views: Vec<Vec<u8>>,
    /// Per column: Arrow validity bitmap, None when the column has no null in this chunk.
    pub valid: Vec<Option<Vec<u8>>>,
    pub null_count: Vec<usize>,
    /// Physical (1-based) line number of each row.
    pub lines: Vec<i64>,
    pub side: Vec<u8>,
    /// (row in this chunk, cells up to its last non-empty one) of rows with too many cells.
    pub ragged: Vec<(usize, usize)>,
}

/// Input bytes per chunk; small inputs are one chunk.
const CHUNK: usize = 1 << 22;

/// Splits `data[start..]`, whose first line is physical line `first_line`.
pub fn split_csv(
    data: &[u8],
    start: usize,
    first_line: i64,
    o: &Options,
) -> Result<Vec<Chunk>, SplitError> {
    if data.len() > u32::MAX as usize {
        return Err(SplitError::TooLarge);
    }
    let start = start.min(data.len());
    let mut bounds = vec![start];
    let mut at = start;
    while data.len() - at > CHUNK {
        match memchr(b'\n', &data[at + CHUNK..]) {
            Some(i) if at + CHUNK + i + 1 < data.len() => {
                at += CHUNK + i + 1;
                bounds.push(at);
            }
            _ => break,
        }
    }
    bounds.push(data.len());
    let table = high_table(o.codec == Codec::Cp1252);
    let mut chunks = bounds
        .par_windows(2)
        .map(|w| Splitter::new(data, o, &table).run(w[0], w[1]))
        .collect::<Result<Vec<_>, _>>()?;
    // line numbers: each chunk counted from 0, then offset by the newlines before it
    let mut line = first_line;
    for (c, w) in chunks.iter_mut().zip(bounds.windows(2)) {
        for l in c.lines.iter_mut() {
            *l += line;
        }
        line += memchr::memchr_iter(b'\n', &data[w[0]..w[1]]).count() as i64;
    }
    Ok(chunks)
}

struct Splitter<'a> {
    data: &'a [u8],
    o: &'a Options,
    table: &'a HighTable,
    out: Chunk,
}

/// Where a cell's trimmed text is: (buffer, offset, length); None when empty.
type Cell = Option<(u32, usize, usize)>;

impl<'a> Splitter<'a> {
    fn new(data: &'a [u8], o: &'a Options, table: &'a HighTable) -> Self {
        let out = Chunk {
            views: vec![Vec::new(); o.ncols],
            ..Chunk::default()
        };
        Splitter {
            data,
            o,
            table,
            out,
        }
    }

    fn run(mut self, lo: usize, hi: usize) -> Result<Chunk, SplitError> {
        let est = (hi - lo) / 48 + 16; // rows, roughly: no reallocation for typical ledgers
        for v in self.out.views.iter_mut() {
            v.reserve(est * 16);
        }
        self.out.lines.reserve(est);
        let (mut pos, mut line) = (lo, 0i64);
        while pos < hi {
            let eol = memchr(b'\n', &self.data[pos..hi]).map_or(hi, |i| pos + i);
            self.line(pos, eol, line)?;
            pos = eol + 1;
            line += 1;
        }
        self.finish()
    }

    /// One line `data[pos..eol]` (physical line `line` of the chunk).
    fn line(&mut self, mut p: usize, eol: usize, line: i64) -> Result<(), SplitError> {
        let (data, o) = (self.data, self.o);
        let row = self.out.rows;
        let side_mark = self.out.side.len();
        let mut col = 0usize;
        let mut last = None; // last non-empty cell
        loop {
            let cell = if o.quote && p < eol && data[p] == b'"' {
                let (content, escaped, end) = quoted(data, p + 1, eol, o.delim)?;
                p = end;
                self.cell(content, escaped)?
            } else {
                // fields are short: a byte loop beats a memchr call per field
                let mut end = p;
                while end < eol && data[end] != o.delim {
                    if o.quote && data[end] == b'"' {
                        return Err(SplitError::Declined);
                    }
                    end += 1;
                }
                let cell = self.cell((p, end), false)?;
                p = end;
                cell
            };
            if cell.is_some() {
                last = Some(col);
            }
            if col < o.ncols {
                let side = &self.out.side;
                let bytes = cell.map(|(buf, off, len)| {
                    let src = if buf == 0 { data } else { side };
                    (buf, off, &src[off..off + len])
                });
                push_view(&mut self.out.views[col], bytes);
            }
            col += 1;
            if p >= eol {
                break;
            }
            p += 1; // the delimiter
        }
        let Some(last) = last else {
            // a blank line is not a row: undo its cells
            for v in self.out.views.iter_mut() {
                v.truncate(row * 16);
            }
            self.out.side.truncate(side_mark);
            return Ok(());
        };
        for v in self.out.views[col.min(o.ncols)..].iter_mut() {
            v.extend_from_slice(&[0u8; 16]); // missing cells are null
        }
        if last >= o.ncols {
            self.out.ragged.push((row, last + 1));
        }
        self.out.lines.push(line);
        self.out.rows += 1;
        Ok(())
    }

    /// The trimmed text of the cell `data[a..b]` (`escaped`: holds `""` pairs to unescape).
    #[inline(always)]
    fn cell(&mut self, (a, b): (usize, usize), escaped: bool) -> Result<Cell, SplitError> {
        let raw = &self.data[a..b];
        if !escaped && (self.o.codec == Codec::Utf8 || raw.is_ascii()) {
            let (s, e) = trim(raw);
            return Ok((s < e).then_some((0, a + s, e - s)));
        }
        // transcoded and/or unescaped into the side buffer (at most 3 bytes per input byte)
        let side = &mut self.out.side;
        let mark = side.len();
        side.reserve(raw.len() * 3);
        let spare = &mut side.spare_capacity_mut()[..raw.len() * 3];
        let (mut i, mut o) = (0, 0);
        while i < raw.len() {
            let c = raw[i];
            i += 1;
            if c < 0x80 || self.o.codec == Codec::Utf8 {
                spare[o].write(c);
                o += 1;
                i += (escaped && c == b'"') as usize; // "" is one quote
                continue;
            }
            let (bytes, len) = self.table[(c - 0x80) as usize];
            if len == 0 {
                return Err(SplitError::Undefined(a + i - 1));
            }
            spare[o].write(bytes[0]);
            spare[o + 1].write(bytes[1]);
            spare[o + 2].write(bytes[2]);
            o += len as usize;
        }
        // SAFETY: the first `o` spare bytes were written just above
        unsafe { side.set_len(mark + o) };
        let (s, e) = trim(&side[mark..]);
        if s == e {
            side.truncate(mark);
            return Ok(None);
        }
        side.truncate(mark + e);
        if side.len() > u32::MAX as usize {
            return Err(SplitError::TooLarge);
        }
        Ok(Some((1, mark + s, e - s)))
    }

    fn finish(mut self) -> Result<Chunk, SplitError> {
        let rows = self.out.rows;
        for v in &self.out.views {
            let bits = validity(v, rows);
            self.out.null_count.push(bits.1);
            self.out.valid.push((bits.1 > 0).then_some(bits.0));
        }
        Ok(self.out)
    }
}

/// The range of `cell` (UTF-8) that `str::trim` keeps.
#[inline(always)]
fn trim(cell: &[u8]) -> (usize, usize) {
    // char::is_whitespace on ASCII: TAB, LF, VT, FF, CR and space
    let ws = |b: u8| matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ');
    let (mut s, mut e) = (0, cell.len());
    while s < e && ws(cell[s]) {
        s += 1;
    }
    while e > s && ws(cell[e - 1]) {
        e -= 1;
    }
    if s < e && (cell[s] >= 0x80 || cell[e - 1] >= 0x80) {
        // a non-ASCII end may be a Unicode space (no-break space...)
        // SAFETY: cells are UTF-8 cut at ASCII bytes
        let text = unsafe { std::str::from_utf8_unchecked(&cell[s..e]) };
        let t = text.trim();
        let from = s + (t.as_ptr() as usize - text.as_ptr() as usize);
        return (from, from + t.len());
    }
    (s, e)
}

/// A quoted field whose content starts at `p` (after the opening quote): (content range, holds
/// `""` pairs, position after the closing quote). Declined when the closing quote is missing on
/// this line or not followed by the delimiter or the end of the line.
fn quoted(
    data: &[u8],
    mut p: usize,
    eol: usize,
    delim: u8,
) -> Result<((usize, usize), bool, usize), SplitError> {
    let start = p;
    let mut escaped = false;
    loop {
        let q = p + memchr(b'"', &data[p..eol]).ok_or(SplitError::Declined)?;
        if q + 1 < eol && data[q + 1] == b'"' {
            escaped = true;
            p = q + 2;
            continue;
        }
        if q + 1 < eol && data[q + 1] != delim {
            return Err(SplitError::Declined);
        }
        return Ok(((start, q), escaped, q + 1));
    }
}

/// Validity bitmap of `rows` views (null = length 0: a non-null cell is never empty) and the
/// null count.
fn validity(views: &[u8], rows: usize) -> (Vec<u8>, usize) {
    let mut bits = vec![0u8; rows.div_ceil(8)];
    let mut nulls = 0;
    for (i, v) in views.chunks_exact(16).enumerate() {
        if v[..4] == [0, 0, 0, 0] {
            nulls += 1;
        } else {
            bits[i / 8] |= 1 << (i % 8);
        }
    }
    (bits, nulls)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::view_cell;

    fn split(
        text: &[u8],
        ncols: usize,
        codec: Codec,
    ) -> Result<Vec<Vec<Option<String>>>, SplitError> {
        let o = Options {
            delim: b';',
            quote: text.contains(&b'"'),
            ncols,
            codec,
        };
        let chunks = split_csv(text, 0, 1, &o)?;
        let mut rows = Vec::new();
        for c in &chunks {
            for r in 0..c.rows {
                let mut row = vec![Some(c.lines[r].to_string())];
                for col in 0..ncols {
                    let bufs: [&[u8]; 2] = [text, &c.side];
                    let cell = view_cell(&c.views[col], &bufs, r).unwrap();
                    let valid = c.valid[col]
                        .as_ref()
                        .is_none_or(|b| b[r / 8] >> (r % 8) & 1 == 1);
                    row.push(valid.then(|| String::from_utf8(cell.to_vec()).unwrap()));
                }
                rows.push(row);
            }
        }
        Ok(rows)
    }

    fn s(v: &[Option<&str>]) -> Vec<Option<String>> {
        v.iter().map(|c| c.map(str::to_string)).collect()
    }

    #[test]
    fn cells_are_trimmed_blank_lines_skipped_missing_cells_null() {
        let rows = split(b" a ;b\n\n ; \nc\n;\xc2\xa0x\xc2\xa0;", 3, Codec::Utf8).unwrap();
        assert_eq!(
            rows,
            vec![
                s(&[Some("1"), Some("a"), Some("b"), None]),
                s(&[Some("4"), Some("c"), None, None]),
                s(&[Some("5"), None, Some("x"), None]),
            ]
        );
    }

    #[test]
    fn quoted_fields_and_escaped_quotes() {
        let rows = split(b"\"a;b\";\"say \"\"hi\"\"\"\n\"\";x", 2, Codec::Utf8).unwrap();
        assert_eq!(
            rows,
            vec![
                s(&[Some("1"), Some("a;b"), Some("say \"hi\"")]),
                s(&[Some("2"), None, Some("x")]),
            ]
        );
    }

    #[test]
    fn doubtful_quoting_is_declined() {
        for text in [
            &b"a\"b;c"[..],
            b"\"ab\"c;d",
            b"\"open\nclose\";x",
            b"x;\"never",
        ] {
            assert_eq!(
                split(text, 2, Codec::Utf8),
                Err(SplitError::Declined),
                "{text:?}"
            );
        }
    }

    #[test]
    fn eight_bit_cells_are_transcoded_and_undefined_bytes_reported() {
        let rows = split(
            b"Soci\xe9t\xe9;\x80 12\n\xa0;Long libell\xe9 de plus de douze",
            2,
            Codec::Cp1252,
        )
        .unwrap();
        assert_eq!(
            rows,
            vec![
                s(&[Some("1"), Some("Société"), Some("€ 12")]),
                s(&[Some("2"), None, Some("Long libellé de plus de douze")]),
            ]
        );
        // 0x85 is an ellipsis in Windows-1252 but NEL, a space trimmed away, in Latin-1
        let rows = split(b"\x85;x", 2, Codec::Cp1252).unwrap();
        assert_eq!(rows, vec![s(&[Some("1"), Some("…"), Some("x")])]);
        let rows = split(b"\x85;x", 2, Codec::Latin1).unwrap();
        assert_eq!(rows, vec![s(&[Some("1"), None, Some("x")])]);
        assert_eq!(
            split(b"ok;x\nab\x81;y", 2, Codec::Cp1252),
            Err(SplitError::Undefined(7))
        );
    }

    #[test]
    fn ragged_rows_report_their_last_non_empty_cell() {
        let o = Options {
            delim: b';',
            quote: false,
            ncols: 2,
            codec: Codec::Utf8,
        };
        let c = split_csv(b"a;b\na;b;;d;\na;b;;", 0, 1, &o).unwrap();
        assert_eq!(c[0].ragged, vec![(1, 4)]);
        assert_eq!(c[0].rows, 3);
    }

    #[test]
    fn chunks_agree_with_one_pass() {
        // more than one chunk: line numbers continue across chunk bounds
        let mut text = Vec::new();
        for i in 0..400_000 {
            text.extend_from_slice(format!("{i};Libellé numéro {i}\n").as_bytes());
            if i % 1000 == 0 {
                text.push(b'\n');
            }
        }
        let o = Options {
            delim: b';',
            quote: false,
            ncols: 2,
            codec: Codec::Utf8,
        };
        let chunks = split_csv(&text, 0, 1, &o).unwrap();
        assert!(chunks.len() > 1);
        let lines: Vec<i64> = chunks
            .iter()
            .flat_map(|c| c.lines.iter().copied())
            .collect();
        assert_eq!(lines.len(), 400_000);
        // line of row i: i + 1, plus one blank line after each multiple of 1000 before it
        for (i, &l) in lines.iter().enumerate().step_by(997) {
            assert_eq!(l, i as i64 + 1 + (i as i64 + 999) / 1000);
        }
    }
}
