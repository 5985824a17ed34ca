//! A byte count written for people: `512`, `64KiB`, `1MiB`, `2GiB`.

use std::fmt;
use std::str::FromStr;

use eddy_options::{SizeTextError, parse_size_text};

/// A number of bytes, parsed from digits with an optional `K`/`KiB`, `M`/`MiB` or `G`/`GiB`
/// suffix (powers of 1024, as the host's `--max-buffer-size` reads them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Size(u64);

/// The binary units, largest first: (suffix written, bytes).
const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];

impl Size {
    /// A size of `bytes` bytes.
    pub const fn new(bytes: u64) -> Self {
        Self(bytes)
    }

    /// `n` KiB (saturating at `u64::MAX` bytes).
    pub const fn kib(n: u64) -> Self {
        Self(n.saturating_mul(1 << 10))
    }

    /// `n` MiB (saturating at `u64::MAX` bytes).
    pub const fn mib(n: u64) -> Self {
        Self(n.saturating_mul(1 << 20))
    }

    /// `n` GiB (saturating at `u64::MAX` bytes).
    pub const fn gib(n: u64) -> Self {
        Self(n.saturating_mul(1 << 30))
    }

    /// The size in bytes.
    pub const fn bytes(self) -> u64 {
        self.0
    }

    /// The size in bytes as a `usize`, saturating where `usize` is narrower (wasm32).
    pub fn as_usize(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

impl From<Size> for u64 {
    fn from(size: Size) -> Self {
        size.0
    }
}

/// Writes the largest binary unit that divides the size exactly: `64KiB`, `1536` (not `1.5KiB`).
impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = UNITS
            .iter()
            .find(|(_, bytes)| self.0 != 0 && self.0.is_multiple_of(*bytes));
        match unit {
            Some((suffix, bytes)) => write!(f, "{}{suffix}", self.0 / bytes),
            None => write!(f, "{}", self.0),
        }
    }
}

impl FromStr for Size {
    type Err = String;

    /// Parses `512`, `64KiB`, `64 KiB`, `64k`, `1MiB`, `2GiB` (case-insensitive suffix).
    fn from_str(text: &str) -> Result<Self, String> {
        parse_size_text(text)
            .map(Self)
            .map_err(|error| match error {
                SizeTextError::Malformed => {
                    format!("{text:?} is not a size (like 512, 64KiB or 1MiB)")
                }
                SizeTextError::CountTooLarge | SizeTextError::TooLarge => {
                    format!("{text:?} is too large")
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_bytes_and_binary_suffixes() {
        let cases = [
            ("512", 512),
            ("0", 0),
            ("64KiB", 64 << 10),
            ("64 KiB", 64 << 10),
            ("64k", 64 << 10),
            ("64KB", 64 << 10),
            ("1MiB", 1 << 20),
            ("1m", 1 << 20),
            ("2GiB", 2 << 30),
            (" 7b ", 7),
        ];
        for (text, bytes) in cases {
            assert_eq!(text.parse::<Size>(), Ok(Size::new(bytes)), "{text}");
        }
    }

    #[test]
    fn refuses_words_fractions_signs_and_overflow() {
        for text in ["lots", "", "KiB", "1.5MiB", "-1", "12TiB", "1 2"] {
            let error = text.parse::<Size>().expect_err(text);
            assert_eq!(
                error,
                format!("{text:?} is not a size (like 512, 64KiB or 1MiB)")
            );
        }
        for text in ["18446744073709551616", "17179869184GiB"] {
            let error = text.parse::<Size>().expect_err(text);
            assert_eq!(error, format!("{text:?} is too large"));
        }
    }

    #[test]
    fn displays_the_largest_exact_unit_and_parses_back() {
        for (size, text) in [
            (Size::kib(64), "64KiB"),
            (Size::mib(1), "1MiB"),
            (Size::gib(3), "3GiB"),
            (Size::new(1536), "1536"),
            (Size::new(0), "0"),
            (Size::kib(1536), "1536KiB"),
        ] {
            assert_eq!(size.to_string(), text);
            assert_eq!(text.parse::<Size>(), Ok(size));
        }
    }

    #[test]
    fn constructors_saturate_and_convert() {
        assert_eq!(Size::gib(u64::MAX).bytes(), u64::MAX);
        assert_eq!(u64::from(Size::kib(2)), 2048);
        assert_eq!(Size::kib(2).as_usize(), 2048);
    }
}
