//! Arrow string views (16 bytes per cell) written by the text kernels.

use rayon::prelude::*;

/// Appends the Arrow view of a cell given as (buffer index, offset in that buffer, its bytes), or
/// a null: the bytes inline up to 12, else prefix, buffer and offset.
/// Written in place: a view assembled on the stack and copied costs a store-forwarding stall.
#[inline(always)]
pub fn push_view(views: &mut Vec<u8>, cell: Option<(u32, usize, &[u8])>) {
    views.reserve(16);
    let dst = views.spare_capacity_mut()[..16].as_mut_ptr() as *mut u8;
    // SAFETY: 16 bytes of spare capacity were reserved; every write stays within them
    unsafe {
        std::ptr::write_bytes(dst, 0, 16);
        if let Some((buf, off, bytes)) = cell {
            let len = bytes.len();
            std::ptr::write_unaligned(dst as *mut u32, (len as u32).to_le());
            if len <= 12 {
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst.add(4), len);
            } else {
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst.add(4), 4);
                std::ptr::write_unaligned(dst.add(8) as *mut u32, buf.to_le());
                std::ptr::write_unaligned(dst.add(12) as *mut u32, (off as u32).to_le());
            }
        }
        views.set_len(views.len() + 16);
    }
}

/// `prefix` followed by each number in decimal, as views over one data buffer per block of
/// `ROWS` cells (view buffer index = block index): the activity ids `<file hash>-<row>`.
pub fn prefixed_numbers(prefix: &[u8], numbers: &[i64]) -> (Vec<u8>, Vec<Vec<u8>>) {
    const ROWS: usize = 1 << 16;
    let blocks: Vec<(Vec<u8>, Vec<u8>)> = numbers
        .par_chunks(ROWS)
        .enumerate()
        .map(|(k, block)| {
            let mut data = Vec::with_capacity(block.len() * (prefix.len() + 8));
            let mut views = Vec::with_capacity(block.len() * 16);
            let mut digits = [0u8; 20];
            for &n in block {
                let off = data.len();
                data.extend_from_slice(prefix);
                if n < 0 {
                    data.push(b'-');
                }
                let mut m = n.unsigned_abs();
                let mut i = digits.len();
                loop {
                    i -= 1;
                    digits[i] = b'0' + (m % 10) as u8;
                    m /= 10;
                    if m == 0 {
                        break;
                    }
                }
                data.extend_from_slice(&digits[i..]);
                let len = data.len() - off;
                // each block has its own data buffer: its index is the block's
                push_view(&mut views, Some((k as u32, off, &data[off..off + len])));
            }
            (views, data)
        })
        .collect();
    let mut views = Vec::with_capacity(numbers.len() * 16);
    let mut buffers = Vec::with_capacity(blocks.len());
    for (v, d) in blocks {
        views.extend_from_slice(&v);
        buffers.push(d);
    }
    (views, buffers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::view_cell;

    #[test]
    fn numbers_after_a_prefix() {
        let nums: Vec<i64> = (0..200_000).map(|i| i * 37 - 5).collect();
        let (views, bufs) = prefixed_numbers(b"ab12-", &nums);
        let bufs: Vec<&[u8]> = bufs.iter().map(|b| b.as_slice()).collect();
        for (i, n) in nums.iter().enumerate().step_by(7) {
            let cell = view_cell(&views, &bufs, i).unwrap();
            assert_eq!(cell, format!("ab12-{n}").as_bytes(), "cell {i}");
        }
        let (views, bufs) = prefixed_numbers(b"", &[i64::MIN, 0, 7]);
        let bufs: Vec<&[u8]> = bufs.iter().map(|b| b.as_slice()).collect();
        assert_eq!(
            view_cell(&views, &bufs, 0).unwrap(),
            i64::MIN.to_string().as_bytes()
        );
        assert_eq!(view_cell(&views, &bufs, 1).unwrap(), b"0");
        assert_eq!(view_cell(&views, &bufs, 2).unwrap(), b"7");
    }
}
