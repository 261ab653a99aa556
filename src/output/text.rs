//! Text scanning shared by the text formats.

/// Whether any byte of `bytes` is one of `targets` or below `below` (at most 128), eight
/// bytes at a time: writers check every text cell for bytes to escape or quote.
pub fn has_any<const N: usize>(bytes: &[u8], targets: [u8; N], below: u8) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // Some byte of `x` is below `n`: the classic "has less than" test, exact for the word as
    // a whole; bytes with the high bit set (UTF-8 beyond ASCII) never match.
    let less = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGHS != 0;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let x = u64::from_le_bytes(chunk.try_into().expect("chunks of eight"));
        if less(x, below) || targets.iter().any(|&t| less(x ^ (ONES * u64::from(t)), 1)) {
            return true;
        }
    }
    chunks.remainder().iter().any(|&b| b < below || targets.contains(&b))
}
