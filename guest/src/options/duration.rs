//! Durations written for people: `30s`, `500ms`, `2m`, `1h30m`, `1.5s`; a bare number is
//! seconds, as in Tornado's `timedelta` options.

use std::time::Duration;

/// The units a term may carry, with their length in nanoseconds; also the order in which
/// [`format`] tries them, largest first.
const UNITS: [(&str, u128); 7] = [
    ("d", 86_400 * NANOS_PER_SECOND),
    ("h", 3_600 * NANOS_PER_SECOND),
    ("m", 60 * NANOS_PER_SECOND),
    ("s", NANOS_PER_SECOND),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
];

const NANOS_PER_SECOND: u128 = 1_000_000_000;

/// Parses a duration: one or more `<number><unit>` terms (`1h30m`, `1m 30s`), units `d`, `h`,
/// `m`/`min`, `s`/`sec`, `ms`, `us`/`µs`, `ns`; or one bare number of seconds.
///
/// # Errors
/// Anything else, with a message naming the text and showing the accepted forms.
pub fn parse(text: &str) -> Result<Duration, String> {
    let not_a_duration = || format!("{text:?} is not a duration (like 30s, 500ms or 2m)");
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(not_a_duration());
    }
    let whole = rest;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_end);
        let after = after.trim_start();
        let unit_end = after
            .find(|c: char| !c.is_alphabetic())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        let unit_nanos = match unit {
            "" if number.len() == whole.len() => NANOS_PER_SECOND,
            "min" => 60 * NANOS_PER_SECOND,
            "sec" => NANOS_PER_SECOND,
            "µs" => 1_000,
            _ => UNITS
                .iter()
                .find(|(name, _)| *name == unit)
                .map(|(_, nanos)| *nanos)
                .ok_or_else(not_a_duration)?,
        };
        let nanos = term_nanos(number, unit_nanos).ok_or_else(not_a_duration)?;
        total = total.checked_add(nanos).ok_or_else(not_a_duration)?;
        rest = after.trim_start();
    }
    let seconds = u64::try_from(total / NANOS_PER_SECOND).map_err(|_| not_a_duration())?;
    let nanos = u32::try_from(total % NANOS_PER_SECOND).map_err(|_| not_a_duration())?;
    Ok(Duration::new(seconds, nanos))
}

/// `number` (digits with an optional fraction) times `unit_nanos`, truncated to whole
/// nanoseconds; `None` if it is not such a number.
fn term_nanos(number: &str, unit_nanos: u128) -> Option<u128> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
        return None;
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    // Digits past the nanosecond cannot change the result.
    let fraction = &fraction[..fraction.len().min(18)];
    let scale = 10u128.pow(u32::try_from(fraction.len()).ok()?);
    let fraction: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().ok()?
    };
    whole
        .checked_mul(unit_nanos)?
        .checked_add(fraction * unit_nanos / scale)
}

/// Writes `duration` in the largest unit that holds it exactly: `30s`, `500ms`, `2m`, `90s`.
pub fn format(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    let (unit, unit_nanos) = UNITS
        .iter()
        .find(|(_, unit_nanos)| nanos.is_multiple_of(*unit_nanos))
        .copied()
        .unwrap_or(("ns", 1));
    format!("{}{unit}", nanos / unit_nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_terms_fractions_and_bare_seconds() {
        let ms = Duration::from_millis;
        let cases = [
            ("30s", ms(30_000)),
            ("500ms", ms(500)),
            ("2m", ms(120_000)),
            ("2min", ms(120_000)),
            ("1h", ms(3_600_000)),
            ("1d", ms(86_400_000)),
            ("1h30m", ms(5_400_000)),
            ("1m 30s", ms(90_000)),
            ("1.5s", ms(1_500)),
            (".25s", ms(250)),
            ("10 sec", ms(10_000)),
            ("250us", Duration::from_micros(250)),
            ("250µs", Duration::from_micros(250)),
            ("7ns", Duration::from_nanos(7)),
            ("45", ms(45_000)),
            ("0.5", ms(500)),
            ("0", Duration::ZERO),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn refuses_other_forms() {
        for text in [
            "", "soon", "s", "30x", "-1s", "1.2.3s", ".s", "30 s 5", "1h 30", "1e3s", "3 days",
        ] {
            assert_eq!(
                parse(text),
                Err(format!(
                    "{text:?} is not a duration (like 30s, 500ms or 2m)"
                )),
                "{text}"
            );
        }
    }

    #[test]
    fn refuses_durations_past_u64_seconds() {
        assert!(parse("99999999999999999999999d").is_err());
    }

    #[test]
    fn formats_in_the_largest_exact_unit_and_parses_back() {
        let cases = [
            (Duration::from_secs(30), "30s"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_secs(120), "2m"),
            (Duration::from_secs(90), "90s"),
            (Duration::from_secs(7_200), "2h"),
            (Duration::from_secs(86_400), "1d"),
            (Duration::from_nanos(1_500), "1500ns"),
            (Duration::ZERO, "0s"),
        ];
        for (duration, text) in cases {
            assert_eq!(format(duration), text);
            assert_eq!(parse(text), Ok(duration));
        }
    }
}
