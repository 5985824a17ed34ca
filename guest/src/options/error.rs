//! Why the options could not be parsed: one line that names the option and the problem.

use std::fmt;

/// An option the program cannot start with.
///
/// `name` is spelled as the user wrote it (`--max-line` on the command line, `max_line` in a
/// pair), so the line points at what to fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// No option of that name is defined.
    Unknown {
        /// The option as written.
        name: String,
    },
    /// A non-boolean option ended the arguments without a value.
    MissingValue {
        /// The option as written.
        name: String,
    },
    /// The value does not parse as the option's type.
    Invalid {
        /// The option as written.
        name: String,
        /// What is wrong with the value, naming the value and the accepted forms.
        reason: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown { name } => write!(f, "unknown option {name} (see --help)"),
            Self::MissingValue { name } => write!(f, "option {name} needs a value"),
            Self::Invalid { name, reason } => write!(f, "option {name}: {reason}"),
        }
    }
}

impl std::error::Error for Error {}

/// Lets a guest's `main` (which returns `Result<(), String>`) stop start-up with `?`.
impl From<Error> for String {
    fn from(error: Error) -> Self {
        error.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_is_one_line_naming_the_option() {
        let cases = [
            (
                Error::Unknown {
                    name: "--colour".into(),
                },
                "unknown option --colour (see --help)",
            ),
            (
                Error::MissingValue {
                    name: "--port".into(),
                },
                "option --port needs a value",
            ),
            (
                Error::Invalid {
                    name: "max_line".into(),
                    reason: "\"lots\" is not a size".into(),
                },
                "option max_line: \"lots\" is not a size",
            ),
        ];
        for (error, line) in cases {
            assert_eq!(error.to_string(), line);
            assert_eq!(String::from(error), line);
        }
    }
}
