//! Byte counts as people write them (`65536`, `64KiB`, `1MiB`): the one parser behind the
//! host's size flags and the guests' size options.

/// Why a size text did not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizeTextError {
    /// Not digits with an optional unit.
    Malformed,
    /// The digits alone do not fit 64 bits.
    CountTooLarge,
    /// The count times its unit does not fit 64 bits.
    TooLarge,
}

/// Parses digits with an optional `B`, `K`/`KB`/`KiB`, `M`/`MB`/`MiB` or `G`/`GB`/`GiB` unit
/// (case-insensitive, powers of 1024), spaces allowed around the number and the unit.
///
/// # Errors
/// What is wrong with the text; callers word the message for their users.
pub fn parse_size_text(text: &str) -> Result<u64, SizeTextError> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, suffix) = text.split_at(split);
    let unit: u64 = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(SizeTextError::Malformed),
    };
    if digits.is_empty() {
        return Err(SizeTextError::Malformed);
    }
    let count: u64 = digits.parse().map_err(|_| SizeTextError::CountTooLarge)?;
    count.checked_mul(unit).ok_or(SizeTextError::TooLarge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_powers_of_1024_in_any_case() {
        assert_eq!(parse_size_text("512"), Ok(512));
        assert_eq!(parse_size_text(" 64 KiB "), Ok(64 << 10));
        assert_eq!(parse_size_text("1mb"), Ok(1 << 20));
        assert_eq!(parse_size_text("2G"), Ok(2 << 30));
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!(parse_size_text("lots"), Err(SizeTextError::Malformed));
        assert_eq!(parse_size_text("KiB"), Err(SizeTextError::Malformed));
        assert_eq!(parse_size_text("1.5MiB"), Err(SizeTextError::Malformed));
        assert_eq!(
            parse_size_text("99999999999999999999"),
            Err(SizeTextError::CountTooLarge)
        );
        assert_eq!(
            parse_size_text("99999999999GiB"),
            Err(SizeTextError::TooLarge)
        );
    }
}
