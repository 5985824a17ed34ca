//! Pseudo-random inputs for the parsers' no-panic tests.

/// `count` byte strings of up to `max_len` bytes drawn from `alphabet`, deterministic
/// for a given `seed`.
pub(crate) fn garbage(alphabet: &[u8], seed: u64, max_len: u64, count: usize) -> Vec<Vec<u8>> {
    let mut state = seed;
    (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut t = state;
            (0..state % max_len)
                .map(|_| {
                    t = t
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    alphabet[((t >> 33) as usize) % alphabet.len()]
                })
                .collect()
        })
        .collect()
}
