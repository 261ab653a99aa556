//! Sixteen bytes at a time: where the page scans find the bytes they stop at.
//!
//! On x86-64 this is SSE2, part of the architecture's baseline (every processor that runs
//! the binary has it); elsewhere, a plain loop.

/// Bit `i` is set when byte `i` of `lane` is one of `targets` or below `below`.
#[cfg(target_arch = "x86_64")]
#[inline]
pub(super) fn mask16(lane: &[u8; 16], targets: &[u8], below: u8) -> u16 {
    // SAFETY: calls a function compiled for SSE2, which this target always has (it is
    // enabled for the whole build); nothing else is assumed.
    unsafe { sse2::mask16(lane, targets, below) }
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8, _mm_set_epi64x, _mm_setzero_si128,
    };

    #[target_feature(enable = "sse2")]
    #[inline]
    pub(super) fn mask16(lane: &[u8; 16], targets: &[u8], below: u8) -> u16 {
        let (low, high) = lane.split_at(8);
        let half = |bytes: &[u8]| i64::from_le_bytes(bytes.try_into().expect("halves of eight"));
        let bytes = _mm_set_epi64x(half(high), half(low));
        let mut hits = match below.checked_sub(1) {
            // Unsigned `byte <= ceiling` as `max(byte, ceiling) == ceiling`.
            Some(ceiling) => {
                let ceiling = _mm_set1_epi8(ceiling as i8);
                _mm_cmpeq_epi8(_mm_max_epu8(bytes, ceiling), ceiling)
            }
            None => _mm_setzero_si128(),
        };
        for &target in targets {
            hits = _mm_or_si128(hits, _mm_cmpeq_epi8(bytes, _mm_set1_epi8(target as i8)));
        }
        _mm_movemask_epi8(hits) as u16
    }
}

/// [`mask16`] byte by byte.
#[cfg(any(test, not(target_arch = "x86_64")))]
#[cfg_attr(not(target_arch = "x86_64"), inline)]
pub(super) fn mask16_bytes(lane: &[u8; 16], targets: &[u8], below: u8) -> u16 {
    lane.iter()
        .enumerate()
        .fold(0, |m, (i, &b)| m | u16::from(b < below || targets.contains(&b)) << i)
}

#[cfg(not(target_arch = "x86_64"))]
pub(super) use mask16_bytes as mask16;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_mark_exactly_the_bytes_asked_for() {
        let palette = [
            b'"', b'\\', b'{', b'}', b'|', b'[', b'!', 0x00, 0x1f, 0x20, 0x7f, 0x80, 0xfb, b'a',
        ];
        let mut lane = [0u8; 16];
        for seed in 0..500u32 {
            for (i, b) in lane.iter_mut().enumerate() {
                let pick = seed.wrapping_mul(2_654_435_761).rotate_left(i as u32 * 3) ^ i as u32;
                *b = palette[pick as usize % palette.len()];
            }
            for (targets, below) in [(&b"\""[..], 0), (b"\"\\", 0x20), (b"{", 0), (b"", 0x80), (b"}", 1)] {
                assert_eq!(
                    mask16(&lane, targets, below),
                    mask16_bytes(&lane, targets, below),
                    "{lane:?} {targets:?} below {below}"
                );
            }
        }
        let lane = *b"ab\"c\\d\x01e{}fghij\"";
        assert_eq!(mask16(&lane, b"\"\\", 0x20), 0b1000_0000_0101_0100);
    }
}
