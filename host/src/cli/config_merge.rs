//! Merges `serve --config FILE` into the command line: flag > environment > file > default.
//!
//! The file's keys are the long names of `serve`'s flags (and its `component`), found by
//! walking clap's own definition, so a flag added later is a key at once. A key applies only
//! when the flag's value came from its default; then the command line is parsed again with
//! the file's values inserted as arguments, so they go through the flags' own parsers.

use std::any::TypeId;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, CommandFactory as _, FromArgMatches as _};

use super::args::{Cli, Command};
use super::config_file::{self, ConfigFile, FileError, FileValue, FlagEntry};

/// Why the command line was refused.
pub(super) enum Refusal {
    /// clap's own error (it prints itself, with usage, and knows its exit code).
    Clap(clap::Error),
    /// One line about the config file.
    File(String),
}

impl From<clap::Error> for Refusal {
    fn from(error: clap::Error) -> Self {
        Self::Clap(error)
    }
}

/// Parses `argv` (the program name first), with a `serve --config` file merged in.
///
/// # Errors
/// The arguments do not parse, or the file cannot be read, or has a key that names no flag
/// or a value its flag refuses.
pub(super) fn parse_from(argv: Vec<OsString>) -> Result<Cli, Refusal> {
    let matches = Cli::command().try_get_matches_from(&argv)?;
    let Some(("serve", serve)) = matches.subcommand() else {
        return Ok(Cli::from_arg_matches(&matches)?);
    };
    let Some(path) = serve.get_one::<PathBuf>("config").cloned() else {
        return Ok(Cli::from_arg_matches(&matches)?);
    };
    let file = config_file::load(&path).map_err(Refusal::File)?;
    let base = path.parent().unwrap_or(Path::new(""));
    let inserted = file_arguments(&file, serve, base).map_err(|e| Refusal::File(e.at(&path)))?;
    let matches = Cli::command().try_get_matches_from(insert(argv, inserted))?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    if let Command::Serve(args) = &mut cli.command {
        args.file = file.extras;
        // The command line's handlers replace the file's.
        if let Some((_, handlers)) = file.handlers
            && is_default(serve, "handlers")
        {
            args.file.handlers = handlers;
        }
    }
    Ok(cli)
}

/// The arguments the file adds: one or more per key whose flag kept its default.
fn file_arguments(
    file: &ConfigFile,
    serve: &ArgMatches,
    base: &Path,
) -> Result<Vec<OsString>, FileError> {
    let root = Cli::command();
    let command = root
        .find_subcommand("serve")
        .expect("invariant: eddy has a serve command");
    let mut arguments = Vec::new();
    for entry in &file.flags {
        if entry.key == "config" {
            return Err(refuse(entry, "a config file cannot name another".into()));
        }
        let arg = find_arg(command, &entry.key)
            .or_else(|| find_arg(&root, &entry.key).filter(|arg| arg.is_global_set()))
            .ok_or_else(|| refuse(entry, "unknown key (not a flag of eddy serve)".into()))?;
        let values = values(arg, entry, base)?;
        for value in &values {
            check(arg, value).map_err(|reason| refuse(entry, reason))?;
        }
        if is_default(serve, arg.get_id().as_str()) {
            arguments.extend(values);
        }
    }
    Ok(arguments)
}

/// `serve`'s flag with long name `key`, or its positional `component` (not the guest's
/// arguments after `--`, which have the `[guest]` table, and not `config` itself).
fn find_arg<'a>(command: &'a clap::Command, key: &str) -> Option<&'a Arg> {
    command.get_arguments().find(|arg| {
        let is_flag = arg.get_long() == Some(key) && key != "config";
        let is_positional = arg.is_positional() && !arg.is_last_set() && arg.get_id() == key;
        is_flag || is_positional
    })
}

/// Whether the flag `id` has no value from the command line or the environment.
fn is_default(matches: &ArgMatches, id: &str) -> bool {
    !matches!(
        matches.value_source(id),
        Some(ValueSource::CommandLine | ValueSource::EnvVariable)
    )
}

/// The arguments that set `arg` to the entry's value, as one would type them.
fn values(arg: &Arg, entry: &FlagEntry, base: &Path) -> Result<Vec<OsString>, FileError> {
    let is_switch = matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse);
    let is_repeatable = matches!(arg.get_action(), ArgAction::Append);
    let texts = match (&entry.value, is_switch) {
        (FileValue::Switch(on), true) => {
            let long = arg.get_long().unwrap_or_default();
            return Ok(if *on {
                vec![format!("--{long}").into()]
            } else {
                Vec::new()
            });
        }
        (_, true) => return Err(refuse(entry, "expected true or false".into())),
        (FileValue::Switch(on), false) => vec![on.to_string()],
        (FileValue::One(text), false) => vec![text.clone()],
        (FileValue::Many(texts), false) if is_repeatable => texts.clone(),
        (FileValue::Many(_), false) => {
            return Err(refuse(entry, "expected one value, not an array".into()));
        }
    };
    let is_path = arg.get_value_parser().type_id() == TypeId::of::<PathBuf>();
    Ok(texts
        .into_iter()
        .map(|text| {
            let text = if is_path {
                base.join(text).into_os_string()
            } else {
                OsString::from(text)
            };
            match arg.get_long() {
                Some(long) => {
                    let mut flag = OsString::from(format!("--{long}="));
                    flag.push(text);
                    flag
                }
                None => text,
            }
        })
        .collect())
}

/// Runs one argument through its flag's parser alone, so a bad value is blamed on its line
/// (environment variables are ignored here: they are not the file's fault).
fn check(arg: &Arg, value: &OsString) -> Result<(), String> {
    let command = Cli::command()
        .mut_args(|arg| arg.env(None::<&'static str>))
        .mut_subcommand("serve", |serve| {
            serve.mut_args(|arg| arg.env(None::<&'static str>))
        });
    let argv: Vec<OsString> = vec!["eddy".into(), "serve".into(), value.clone()];
    match command.try_get_matches_from(argv) {
        Ok(_) => Ok(()),
        Err(error) => Err(reason(arg, &error)),
    }
}

/// The reason in a clap error: the flag parser's own message when it has one.
fn reason(arg: &Arg, error: &clap::Error) -> String {
    if let Some(source) = std::error::Error::source(error) {
        return source.to_string();
    }
    let text = error.to_string();
    let line = text.lines().next().unwrap_or_default();
    let line = line.strip_prefix("error: ").unwrap_or(line);
    // clap puts the accepted values on a line of their own; keep them on this one.
    let accepted = text
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("[possible values:"));
    match (line.is_empty(), accepted) {
        (true, _) => format!("invalid value for --{}", arg.get_id()),
        (false, Some(accepted)) => format!("{line} {accepted}"),
        (false, None) => line.to_owned(),
    }
}

fn refuse(entry: &FlagEntry, reason: String) -> FileError {
    FileError {
        line: entry.line,
        key: entry.key.clone(),
        reason,
    }
}

/// `argv` with `inserted` placed before the guest's arguments (`--`), or at the end.
fn insert(mut argv: Vec<OsString>, inserted: Vec<OsString>) -> Vec<OsString> {
    let at = argv
        .iter()
        .position(|arg| arg == "--")
        .unwrap_or(argv.len());
    argv.splice(at..at, inserted);
    argv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_goes_before_the_guest_arguments() {
        let argv = |args: &[&str]| args.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            insert(argv(&["eddy", "serve", "--", "--x"]), argv(&["--gzip"])),
            argv(&["eddy", "serve", "--gzip", "--", "--x"])
        );
        assert_eq!(
            insert(argv(&["eddy", "serve"]), argv(&["--gzip"])),
            argv(&["eddy", "serve", "--gzip"])
        );
    }

    #[test]
    fn the_example_file_is_valid() {
        let text = include_str!("../../../examples/eddy.toml");
        let file = config_file::parse(text, Path::new("examples")).expect("parses");
        let matches = Cli::command()
            .try_get_matches_from(["eddy", "serve"])
            .expect("no flags");
        let (_, serve) = matches.subcommand().expect("serve");
        let arguments = file_arguments(&file, serve, Path::new("examples")).expect("valid");
        assert!(
            arguments.contains(&OsString::from("--gzip")),
            "{arguments:?}"
        );
        assert_eq!(file.extras.plugins["greeter"].len(), 1);
    }

    #[test]
    fn bad_values_give_the_flag_parsers_reason() {
        let command = Cli::command();
        let serve = command.find_subcommand("serve").expect("serve");
        let arg = find_arg(serve, "max-body-size").expect("flag");
        let reason = check(arg, &"--max-body-size=ten".into()).expect_err("refused");
        assert!(reason.contains("\"ten\" is not a byte count"), "{reason}");
        let arg = find_arg(serve, "listen").expect("flag");
        let reason = check(arg, &"--listen=127.0.0.1:99999".into()).expect_err("refused");
        assert!(reason.contains("the port must be a number"), "{reason}");
        assert!(check(arg, &"--listen=localhost:80".into()).is_ok());
        assert!(check(arg, &"--listen=[::1]:80".into()).is_ok());
        assert!(find_arg(serve, "config").is_none());
        assert!(find_arg(serve, "args").is_none());
        assert!(find_arg(serve, "component").is_some());
    }
}
