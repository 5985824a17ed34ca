//! [`OptionParser`]: define options, parse arguments and pairs into them, read them back typed.

use std::any::{Any, TypeId};
use std::iter;
use std::marker::PhantomData;
use std::ops::Index;

use super::error::Error;
use super::value::OptionType;

/// Where an option's value came from; a later parse only overrides a value from the same or a
/// lower source, so arguments win over pairs and pairs over defaults whatever the call order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    /// The default given to `define`.
    Default,
    /// A (name, value) pair, as from a config file.
    Pair,
    /// The program's arguments.
    Argument,
}

/// Reads one value of an option's type, boxed so that options of every type share a table.
type Parse = fn(&str) -> Result<Box<dyn Any>, String>;

/// One defined option and its current value.
struct Entry {
    /// The name in kebab-case (`_` in a definition or a lookup reads as `-`).
    name: String,
    /// [`OptionType::KIND`] of the option's type.
    kind: &'static str,
    /// Whether a bare `--name` sets it (bools only).
    is_flag: bool,
    /// The help line.
    help: String,
    /// The default, as the help shows it.
    default: String,
    parse: Parse,
    /// The current value, of the option's type.
    value: Box<dyn Any>,
    source: Source,
}

/// What the arguments ask for.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use = "`--help` asks the program to print the help and exit instead of starting"]
pub enum CommandLine {
    /// The options are set; these are the positional arguments after them (everything from
    /// the first argument that does not start with `-`, or after a bare `--`).
    Run(Vec<String>),
    /// `--help` was given: show this text and exit 0 without starting.
    Help(String),
}

impl CommandLine {
    /// For a guest's `main`: the positional arguments, or, on `--help`, prints the help to the
    /// host's standard output, stops the program with exit code 0 and returns `None` (then
    /// `main` returns `Ok(())` without serving).
    pub fn or_show_help(self) -> Option<Vec<String>> {
        match self {
            Self::Run(rest) => Some(rest),
            Self::Help(text) => {
                crate::print(text.as_bytes());
                crate::stop(0);
                None
            }
        }
    }
}

/// A typed handle to an option, returned by [`OptionParser::define`]: `options[key]` is its
/// value (Tornado's `options.name`).
pub struct Key<T> {
    index: usize,
    marker: PhantomData<fn() -> T>,
}

impl<T> Clone for Key<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Key<T> {}

impl<T> std::fmt::Debug for Key<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key").field("index", &self.index).finish()
    }
}

/// A program's options (Tornado's `OptionParser`): [`define`](Self::define) each with a
/// default and a help line, then parse [pairs](Self::parse_pairs) and the
/// [arguments](Self::parse_command_line).
#[derive(Default)]
pub struct OptionParser {
    entries: Vec<Entry>,
}

impl OptionParser {
    /// An empty set of options; `--help` is always understood.
    pub fn new() -> Self {
        Self::default()
    }

    /// Defines option `name` (kebab-case; `_` reads as `-`) with its default and help line.
    ///
    /// # Panics
    /// If `name` is already defined, is `help`, or is empty: a bug in the program.
    pub fn define<T: OptionType>(&mut self, name: &str, default: T, help: &str) -> Key<T> {
        let name = normalize(name);
        assert!(
            !name.is_empty() && name != "help" && self.find(&name).is_none(),
            "option --{name} is defined twice, is empty or is the reserved --help"
        );
        self.entries.push(Entry {
            kind: T::KIND,
            is_flag: TypeId::of::<T>() == TypeId::of::<bool>(),
            help: help.to_owned(),
            default: default.show(),
            parse: parse_boxed::<T>,
            value: Box::new(default),
            source: Source::Default,
            name,
        });
        Key {
            index: self.entries.len() - 1,
            marker: PhantomData,
        }
    }

    /// Parses the program's arguments (Tornado's `parse_command_line`): `--name=value`,
    /// `--name value`, and a bare `--name` for bools. They override pairs and defaults.
    ///
    /// Parsing stops at `--help`, at a bare `--` or at the first argument that does not start
    /// with `-`; what follows is returned in [`CommandLine::Run`].
    ///
    /// # Errors
    /// The first unknown option, option without a value, or value that does not parse.
    pub fn parse_command_line<I, S>(&mut self, args: I) -> Result<CommandLine, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut args = args
            .into_iter()
            .map(|arg| arg.as_ref().to_owned())
            .peekable();
        while let Some(arg) = args.next() {
            if arg == "--" {
                return Ok(CommandLine::Run(args.collect()));
            }
            let Some(option) = arg.strip_prefix("--") else {
                if arg.starts_with('-') && arg.len() > 1 {
                    return Err(Error::Unknown { name: arg });
                }
                return Ok(CommandLine::Run(iter::once(arg).chain(args).collect()));
            };
            let (written, inline) = match option.split_once('=') {
                Some((written, value)) => (written, Some(value.to_owned())),
                None => (option, None),
            };
            let name = normalize(written);
            if name == "help" {
                return Ok(CommandLine::Help(self.help()));
            }
            let written = format!("--{written}");
            let Some(index) = self.find(&name) else {
                return Err(Error::Unknown { name: written });
            };
            let value = match inline {
                Some(value) => value,
                None if self.entries[index].is_flag => "true".to_owned(),
                None => args
                    .next_if(|next| !next.starts_with("--"))
                    .ok_or_else(|| Error::MissingValue {
                        name: written.clone(),
                    })?,
            };
            self.set(index, &value, written, Source::Argument)?;
        }
        Ok(CommandLine::Run(Vec::new()))
    }

    /// Parses (name, value) pairs, as a config file's `[guest]` table arrives (Tornado's
    /// `parse_config_file`). They override defaults but never a value from the arguments.
    ///
    /// # Errors
    /// The first unknown name or value that does not parse; errors name the option as the
    /// pair spells it.
    pub fn parse_pairs<I, N, V>(&mut self, pairs: I) -> Result<(), Error>
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<str>,
        V: AsRef<str>,
    {
        for (name, value) in pairs {
            let written = name.as_ref().to_owned();
            let Some(index) = self.find(&normalize(&written)) else {
                return Err(Error::Unknown { name: written });
            };
            self.set(index, value.as_ref(), written, Source::Pair)?;
        }
        Ok(())
    }

    /// Parses the host's `[guest]` pairs (a config file's table, passed as `guest.NAME`
    /// start options), then the arguments: Tornado's `parse_config_file` and
    /// `parse_command_line` in one call, arguments over the file over defaults.
    ///
    /// # Errors
    /// As [`parse_pairs`](Self::parse_pairs) (an unknown name says it is from the config
    /// file) and [`parse_command_line`](Self::parse_command_line).
    pub fn parse_config_and_command_line<I, S>(&mut self, args: I) -> Result<CommandLine, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let pairs = crate::runtime::raw_options()
            .into_iter()
            .filter_map(|(name, value)| {
                name.strip_prefix(eddy_options::GUEST_OPTION_PREFIX)
                    .map(|name| (name.to_owned(), value))
            });
        self.parse_pairs(pairs).map_err(|error| match error {
            Error::Unknown { name } => Error::Unknown {
                name: format!("{name} in the config file's [guest] table"),
            },
            other => other,
        })?;
        self.parse_command_line(args)
    }

    /// The value of option `name`, or `None` if no option of that name and type is defined.
    pub fn get<T: OptionType>(&self, name: &str) -> Option<T> {
        let index = self.find(&normalize(name))?;
        self.entries[index].value.downcast_ref::<T>().cloned()
    }

    /// The help `--help` shows: one line per option with its name, type, help and default,
    /// in the order they were defined.
    pub fn help(&self) -> String {
        let rows: Vec<(String, String)> =
            iter::once(("--help".to_owned(), "show this help and exit".to_owned()))
                .chain(self.entries.iter().map(|entry| {
                    let placeholder = entry.kind.to_ascii_uppercase();
                    let usage = if entry.is_flag {
                        format!("--{}[={placeholder}]", entry.name)
                    } else {
                        format!("--{}={placeholder}", entry.name)
                    };
                    (
                        usage,
                        format!("{} (default: {})", entry.help, entry.default),
                    )
                }))
                .collect();
        let width = rows.iter().map(|(usage, _)| usage.len()).max().unwrap_or(0);
        let mut text = String::from("Options:\n");
        for (usage, help) in rows {
            text.push_str(&format!("  {usage:<width$}  {help}\n"));
        }
        text
    }

    fn find(&self, name: &str) -> Option<usize> {
        self.entries.iter().position(|entry| entry.name == name)
    }

    fn set(
        &mut self,
        index: usize,
        text: &str,
        written: String,
        source: Source,
    ) -> Result<(), Error> {
        let entry = &mut self.entries[index];
        let value = (entry.parse)(text).map_err(|reason| Error::Invalid {
            name: written,
            reason,
        })?;
        if source >= entry.source {
            entry.value = value;
            entry.source = source;
        }
        Ok(())
    }
}

/// `options[key]` is the option's current value.
///
/// # Panics
/// If `key` was returned by another parser's `define`.
impl<T: OptionType> Index<Key<T>> for OptionParser {
    type Output = T;

    fn index(&self, key: Key<T>) -> &T {
        self.entries
            .get(key.index)
            .and_then(|entry| entry.value.downcast_ref::<T>())
            .expect("invariant: a key is used with the parser that defined it")
    }
}

fn parse_boxed<T: OptionType>(text: &str) -> Result<Box<dyn Any>, String> {
    T::parse(text).map(|value| Box::new(value) as Box<dyn Any>)
}

/// Option names are kebab-case; `max_line` (as a TOML key might spell it) is `max-line`.
fn normalize(name: &str) -> String {
    name.replace('_', "-")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::options::Size;

    /// One option of every type, as a guest might define them.
    struct Defined {
        options: OptionParser,
        port: Key<u16>,
        ratio: Key<f64>,
        verbose: Key<bool>,
        name: Key<String>,
        idle: Key<Duration>,
        max_line: Key<Size>,
        tags: Key<Vec<String>>,
    }

    fn defined() -> Defined {
        let mut options = OptionParser::new();
        Defined {
            port: options.define("port", 8888u16, "the port"),
            ratio: options.define("ratio", 0.5f64, "a fraction"),
            verbose: options.define("verbose", false, "log more"),
            name: options.define("name", String::from("eddy"), "the name"),
            idle: options.define("idle_timeout", Duration::from_secs(30), "idle limit"),
            max_line: options.define("max-line", Size::kib(64), "the longest line"),
            tags: options.define("tags", vec!["a".to_owned()], "labels"),
            options,
        }
    }

    #[track_caller]
    fn run(options: &mut OptionParser, args: &[&str]) -> Vec<String> {
        match options.parse_command_line(args) {
            Ok(CommandLine::Run(rest)) => rest,
            other => panic!("{args:?} gave {other:?}"),
        }
    }

    #[test]
    fn defaults_hold_until_something_is_parsed() {
        let d = defined();
        assert_eq!(d.options[d.port], 8888);
        assert_eq!(d.options[d.ratio], 0.5);
        assert!(!d.options[d.verbose]);
        assert_eq!(d.options[d.name], "eddy");
        assert_eq!(d.options[d.idle], Duration::from_secs(30));
        assert_eq!(d.options[d.max_line], Size::kib(64));
        assert_eq!(d.options[d.tags], ["a"]);
    }

    #[test]
    fn every_type_parses_from_the_arguments() {
        let mut d = defined();
        let rest = run(
            &mut d.options,
            &[
                "--port=9000",
                "--ratio",
                "0.25",
                "--verbose",
                "--name=tornado",
                "--idle-timeout",
                "2m",
                "--max-line",
                "1KiB",
                "--tags=x,y",
            ],
        );
        assert!(rest.is_empty());
        assert_eq!(d.options[d.port], 9000);
        assert_eq!(d.options[d.ratio], 0.25);
        assert!(d.options[d.verbose]);
        assert_eq!(d.options[d.name], "tornado");
        assert_eq!(d.options[d.idle], Duration::from_secs(120));
        assert_eq!(d.options[d.max_line], Size::kib(1));
        assert_eq!(d.options[d.tags], ["x", "y"]);
    }

    #[test]
    fn a_bare_flag_is_true_and_takes_no_value() {
        let mut d = defined();
        let rest = run(&mut d.options, &["--verbose", "file.txt"]);
        assert!(d.options[d.verbose]);
        assert_eq!(rest, ["file.txt"]);
        run(&mut d.options, &["--verbose=false"]);
        assert!(!d.options[d.verbose]);
    }

    #[test]
    fn a_separate_value_may_start_with_one_dash() {
        let mut options = OptionParser::new();
        let offset = options.define("offset", 0i64, "a shift");
        run(&mut options, &["--offset", "-5"]);
        assert_eq!(options[offset], -5);
    }

    #[test]
    fn positional_arguments_and_a_bare_double_dash_end_the_options() {
        let mut d = defined();
        assert_eq!(
            run(&mut d.options, &["--port=1", "a", "--port=2"]),
            ["a", "--port=2"]
        );
        assert_eq!(d.options[d.port], 1);
        assert_eq!(run(&mut d.options, &["--", "--port=3"]), ["--port=3"]);
        assert_eq!(d.options[d.port], 1);
        assert_eq!(run(&mut d.options, &["-"]), ["-"]);
    }

    #[test]
    fn underscores_and_dashes_name_the_same_option() {
        let mut d = defined();
        run(&mut d.options, &["--idle_timeout=5s", "--max_line=512"]);
        assert_eq!(d.options[d.idle], Duration::from_secs(5));
        assert_eq!(d.options[d.max_line], Size::new(512));
        assert_eq!(d.options.get::<Size>("max_line"), Some(Size::new(512)));
    }

    #[test]
    fn get_by_name_needs_the_defined_type() {
        let d = defined();
        assert_eq!(d.options.get::<u16>("port"), Some(8888));
        assert_eq!(d.options.get::<u64>("port"), None, "port is a u16");
        assert_eq!(d.options.get::<u16>("nope"), None);
    }

    #[test]
    fn arguments_win_over_pairs_and_pairs_over_defaults_in_any_order() {
        let mut d = defined();
        d.options
            .parse_pairs([("port", "7000"), ("name", "from-file")])
            .expect("pairs");
        run(&mut d.options, &["--port=9000"]);
        assert_eq!(d.options[d.port], 9000, "the argument wins over the pair");
        assert_eq!(
            d.options[d.name], "from-file",
            "the pair wins over the default"
        );

        let mut d = defined();
        run(&mut d.options, &["--port", "9000"]);
        d.options
            .parse_pairs([("port", "7000"), ("max_line", "1MiB")])
            .expect("pairs");
        assert_eq!(d.options[d.port], 9000, "a later pair does not override");
        assert_eq!(d.options[d.max_line], Size::mib(1));
        run(&mut d.options, &["--port=9001"]);
        assert_eq!(d.options[d.port], 9001, "a later argument does");
    }

    #[test]
    fn an_unknown_option_names_itself() {
        let mut d = defined();
        for (args, name) in [
            (&["--colour=red"][..], "--colour"),
            (&["--colour"][..], "--colour"),
            (&["--port=1", "-p", "2"][..], "-p"),
        ] {
            assert_eq!(
                d.options.parse_command_line(args),
                Err(Error::Unknown { name: name.into() })
            );
        }
        assert_eq!(
            d.options.parse_pairs([("colour", "red")]),
            Err(Error::Unknown {
                name: "colour".into()
            })
        );
    }

    #[test]
    fn a_missing_value_names_the_option() {
        let mut d = defined();
        for args in [&["--port"][..], &["--port", "--verbose"][..]] {
            let error = d.options.parse_command_line(args).expect_err("no value");
            assert_eq!(error.to_string(), "option --port needs a value");
        }
    }

    #[test]
    fn a_bad_value_is_one_line_naming_the_option_and_the_problem() {
        let cases: [(&str, &str); 7] = [
            (
                "--port=70000",
                "\"70000\" is not an integer from 0 to 65535",
            ),
            ("--ratio=half", "\"half\" is not a number (like 0.5 or 2)"),
            ("--verbose=maybe", "\"maybe\" is not a bool (true or false)"),
            (
                "--idle-timeout=soon",
                "\"soon\" is not a duration (like 30s, 500ms or 2m)",
            ),
            (
                "--max-line=lots",
                "\"lots\" is not a size (like 512, 64KiB or 1MiB)",
            ),
            (
                "--max-line=99999999999GiB",
                "\"99999999999GiB\" is too large",
            ),
            ("--port=", "\"\" is not an integer from 0 to 65535"),
        ];
        for (arg, reason) in cases {
            let mut d = defined();
            let error = d.options.parse_command_line([arg]).expect_err(arg);
            let name = arg.split('=').next().expect("a name");
            assert_eq!(error.to_string(), format!("option {name}: {reason}"));
            assert!(!error.to_string().contains('\n'));
        }
        let mut d = defined();
        assert_eq!(
            d.options
                .parse_pairs([("max_line", "lots")])
                .expect_err("bad")
                .to_string(),
            "option max_line: \"lots\" is not a size (like 512, 64KiB or 1MiB)"
        );
    }

    #[test]
    fn help_lists_every_option_with_type_default_and_help() {
        let d = defined();
        assert_eq!(
            d.options.help(),
            "Options:\n\
             \x20 --help                   show this help and exit\n\
             \x20 --port=INTEGER           the port (default: 8888)\n\
             \x20 --ratio=FLOAT            a fraction (default: 0.5)\n\
             \x20 --verbose[=BOOL]         log more (default: false)\n\
             \x20 --name=STRING            the name (default: \"eddy\")\n\
             \x20 --idle-timeout=DURATION  idle limit (default: 30s)\n\
             \x20 --max-line=SIZE          the longest line (default: 64KiB)\n\
             \x20 --tags=LIST              labels (default: \"a\")\n"
        );
    }

    #[test]
    fn help_stops_parsing_and_returns_the_help() {
        let mut d = defined();
        let help = d.options.help();
        assert_eq!(
            d.options
                .parse_command_line(["--port=1", "--help", "--nope"]),
            Ok(CommandLine::Help(help))
        );
        assert_eq!(
            d.options.parse_command_line(["--nope", "--help"]),
            Err(Error::Unknown {
                name: "--nope".into()
            })
        );
    }

    #[test]
    fn or_show_help_stops_the_program_with_zero() {
        let host = crate::testing::FakeHost::install();
        let rest = CommandLine::Run(vec!["a".into()]).or_show_help();
        assert_eq!(rest, Some(vec!["a".to_owned()]));
        assert_eq!(host.0.borrow().stopped, None);
        assert_eq!(CommandLine::Help("Options:\n".into()).or_show_help(), None);
        assert_eq!(host.0.borrow().stopped, Some(0));
    }

    #[test]
    fn the_hosts_guest_pairs_sit_between_defaults_and_arguments() {
        let host = crate::testing::FakeHost::install();
        let options = [
            ("guest.port", "7000"),
            ("guest.idle_timeout", "2m"),
            ("max-buffer-size", "4096"),
        ];
        let options = options.map(|(k, v)| (k.to_owned(), v.to_owned())).to_vec();
        crate::runtime::install(std::rc::Rc::new(host), options).expect("options");
        let mut options = OptionParser::new();
        let port = options.define("port", 8888u16, "port");
        let idle = options.define("idle-timeout", Duration::from_secs(1), "idle");
        let parsed = options.parse_config_and_command_line(["--port=9000"]);
        assert_eq!(parsed, Ok(CommandLine::Run(Vec::new())));
        assert_eq!(options[port], 9000, "the argument wins");
        assert_eq!(
            options[idle],
            Duration::from_secs(120),
            "the file's pair applies"
        );

        let mut strict = OptionParser::new();
        strict.define("port", 1u16, "port");
        let error = strict.parse_config_and_command_line(Vec::<String>::new());
        assert_eq!(
            error.map_err(|e| e.to_string()),
            Err(
                "unknown option idle_timeout in the config file's [guest] table (see --help)"
                    .into()
            )
        );
    }

    #[test]
    #[should_panic(expected = "option --port is defined twice")]
    fn defining_a_name_twice_is_a_bug() {
        let mut options = OptionParser::new();
        options.define("port", 1u16, "one");
        options.define("port", 2u16, "two");
    }

    #[test]
    #[should_panic(expected = "reserved --help")]
    fn help_cannot_be_redefined() {
        OptionParser::new().define("help", true, "mine");
    }
}
