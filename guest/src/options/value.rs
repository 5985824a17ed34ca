//! The types an option can have, and how each reads and shows its values.

use std::time::Duration;

use super::duration;
use super::size::Size;

/// A type an option can be defined with: integers, floats, `bool`, `String`, [`Duration`],
/// [`Size`] and `Vec<String>` (a comma-separated list).
///
/// Implement it for a type of your own (an enum of modes, say) to define options of that type.
pub trait OptionType: Clone + 'static {
    /// The type's name in the help (upper-cased as the value's placeholder) and in errors.
    const KIND: &'static str;

    /// Parses a value as written after `--name=` or in a (name, value) pair.
    ///
    /// # Errors
    /// The text is not a value of this type; the message names the text and the accepted
    /// forms, lowercase, without a trailing period.
    fn parse(text: &str) -> Result<Self, String>;

    /// Shows a value (the default) in the help, in a form [`OptionType::parse`] reads back.
    fn show(&self) -> String;
}

macro_rules! integer_options {
    ($($int:ty),*) => {$(
        impl OptionType for $int {
            const KIND: &'static str = "integer";

            fn parse(text: &str) -> Result<Self, String> {
                text.trim().parse().map_err(|_| {
                    format!("{text:?} is not an integer from {} to {}", <$int>::MIN, <$int>::MAX)
                })
            }

            fn show(&self) -> String {
                self.to_string()
            }
        }
    )*};
}

integer_options!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);

macro_rules! float_options {
    ($($float:ty),*) => {$(
        impl OptionType for $float {
            const KIND: &'static str = "float";

            fn parse(text: &str) -> Result<Self, String> {
                text.trim()
                    .parse::<$float>()
                    .ok()
                    .filter(|value| value.is_finite())
                    .ok_or_else(|| format!("{text:?} is not a number (like 0.5 or 2)"))
            }

            fn show(&self) -> String {
                self.to_string()
            }
        }
    )*};
}

float_options!(f32, f64);

impl OptionType for bool {
    const KIND: &'static str = "bool";

    fn parse(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(true),
            "false" | "no" | "off" | "0" => Ok(false),
            _ => Err(format!("{text:?} is not a bool (true or false)")),
        }
    }

    fn show(&self) -> String {
        self.to_string()
    }
}

impl OptionType for String {
    const KIND: &'static str = "string";

    fn parse(text: &str) -> Result<Self, String> {
        Ok(text.to_owned())
    }

    fn show(&self) -> String {
        format!("{self:?}")
    }
}

impl OptionType for Duration {
    const KIND: &'static str = "duration";

    fn parse(text: &str) -> Result<Self, String> {
        duration::parse(text)
    }

    fn show(&self) -> String {
        duration::format(*self)
    }
}

impl OptionType for Size {
    const KIND: &'static str = "size";

    fn parse(text: &str) -> Result<Self, String> {
        text.parse()
    }

    fn show(&self) -> String {
        self.to_string()
    }
}

/// A comma-separated list: `a, b,c` is `["a", "b", "c"]`; empty items are dropped.
impl OptionType for Vec<String> {
    const KIND: &'static str = "list";

    fn parse(text: &str) -> Result<Self, String> {
        Ok(text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect())
    }

    fn show(&self) -> String {
        format!("{:?}", self.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_parse_within_their_range() {
        assert_eq!(<u16 as OptionType>::parse("9000"), Ok(9000));
        assert_eq!(<i64 as OptionType>::parse(" -5 "), Ok(-5));
        assert_eq!(<usize as OptionType>::parse("0"), Ok(0));
        assert_eq!(
            <u16 as OptionType>::parse("70000"),
            Err("\"70000\" is not an integer from 0 to 65535".to_owned())
        );
        assert_eq!(
            <u8 as OptionType>::parse("-1"),
            Err("\"-1\" is not an integer from 0 to 255".to_owned())
        );
        assert_eq!(
            <i32 as OptionType>::parse("ten"),
            Err("\"ten\" is not an integer from -2147483648 to 2147483647".to_owned())
        );
        assert_eq!(9000u16.show(), "9000");
        assert_eq!(u16::KIND, "integer");
    }

    #[test]
    fn floats_parse_finite_numbers_only() {
        assert_eq!(<f64 as OptionType>::parse("0.5"), Ok(0.5));
        assert_eq!(<f64 as OptionType>::parse("2"), Ok(2.0));
        assert_eq!(<f32 as OptionType>::parse("-1e3"), Ok(-1000.0));
        for text in ["half", "NaN", "inf", ""] {
            assert_eq!(
                <f64 as OptionType>::parse(text),
                Err(format!("{text:?} is not a number (like 0.5 or 2)"))
            );
        }
        assert_eq!(1.5f64.show(), "1.5");
        assert_eq!(f64::KIND, "float");
    }

    #[test]
    fn bools_read_the_usual_words() {
        for text in ["true", "TRUE", "yes", "on", "1"] {
            assert_eq!(<bool as OptionType>::parse(text), Ok(true), "{text}");
        }
        for text in ["false", "False", "no", "off", "0"] {
            assert_eq!(<bool as OptionType>::parse(text), Ok(false), "{text}");
        }
        assert_eq!(
            <bool as OptionType>::parse("maybe"),
            Err("\"maybe\" is not a bool (true or false)".to_owned())
        );
        assert_eq!(true.show(), "true");
        assert_eq!(bool::KIND, "bool");
    }

    #[test]
    fn strings_are_taken_as_written() {
        assert_eq!(
            <String as OptionType>::parse(" a b "),
            Ok(" a b ".to_owned())
        );
        assert_eq!(String::new().show(), "\"\"");
        assert_eq!(String::KIND, "string");
    }

    #[test]
    fn durations_and_sizes_use_their_own_forms() {
        assert_eq!(
            <Duration as OptionType>::parse("500ms"),
            Ok(Duration::from_millis(500))
        );
        assert_eq!(Duration::from_secs(30).show(), "30s");
        assert_eq!(Duration::KIND, "duration");
        assert_eq!(<Size as OptionType>::parse("1MiB"), Ok(Size::mib(1)));
        assert_eq!(Size::kib(64).show(), "64KiB");
        assert_eq!(Size::KIND, "size");
    }

    #[test]
    fn lists_split_on_commas_and_drop_empty_items() {
        let list = <Vec<String> as OptionType>::parse("a, b,,c ,").expect("a list");
        assert_eq!(list, ["a", "b", "c"]);
        assert_eq!(
            <Vec<String> as OptionType>::parse(""),
            Ok(Vec::<String>::new())
        );
        assert_eq!(list.show(), "\"a,b,c\"");
        assert_eq!(Vec::<String>::KIND, "list");
    }
}
