//! `eddy serve --config FILE`: reads the TOML file into flag values, handlers, the guest's
//! `[guest]` pairs and the plugins' `[plugins.NAME]` settings, each with the line it is on.
//!
//! This module knows TOML, not clap: which keys are flags, and whether their values parse,
//! is decided by `config_merge` against the command line's own definition.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::regular_file;

/// A mistake in the config file: the line it is on, the key, and what is wrong.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct FileError {
    /// 1-based line of the key (or of the syntax error).
    pub line: usize,
    /// The key as written, dotted for nested tables (`handler.component`).
    pub key: String,
    /// What is wrong, lowercase, without a trailing period.
    pub reason: String,
}

impl FileError {
    /// The one line shown to the user: `FILE:LINE: key "KEY": REASON`.
    pub fn at(&self, file: &Path) -> String {
        if self.key.is_empty() {
            format!("{}:{}: {}", file.display(), self.line, self.reason)
        } else {
            format!(
                "{}:{}: key {:?}: {}",
                file.display(),
                self.line,
                self.key,
                self.reason
            )
        }
    }
}

/// The value of a flag key, as the command line would spell it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum FileValue {
    /// `true` or `false`.
    Switch(bool),
    /// One string, number or path.
    One(String),
    /// An array, for a repeatable flag.
    Many(Vec<String>),
}

/// One top-level key that names a flag.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct FlagEntry {
    pub key: String,
    pub line: usize,
    pub value: FileValue,
}

/// One `[[handler]]`: a plugin component and the route it answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandlerEntry {
    /// The whole-path regex (`route`, default every path).
    pub route: String,
    /// The component, relative to the file's directory when not absolute.
    pub component: PathBuf,
    /// `name`, or the component's file stem: the key of its `[plugins.NAME]` table.
    pub name: String,
    pub line: usize,
}

/// What the config file holds beyond flags, carried to `serve` next to the parsed flags.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Extras {
    /// The file, for log lines and reloads.
    pub path: Option<PathBuf>,
    /// `[guest]` pairs, passed to the guest's start as `guest.NAME` options.
    pub guest: Vec<(String, String)>,
    /// `[plugins.NAME]` tables: each plugin's configuration (`wasi:config/store`).
    pub plugins: BTreeMap<String, Vec<(String, String)>>,
    /// The `[[handler]]` tables, when no `--handler` flag or `EDDY_HANDLER` replaces them.
    pub handlers: Vec<HandlerEntry>,
}

/// A config file, read and checked for shape (not yet for flag names and values).
#[derive(Debug, Default)]
pub(super) struct ConfigFile {
    pub flags: Vec<FlagEntry>,
    /// `[[handler]]` tables and the line of the first one.
    pub handlers: Option<(usize, Vec<HandlerEntry>)>,
    pub extras: Extras,
}

/// Reads and checks the file at `path`.
///
/// # Errors
/// The file cannot be read (one line), or a [`FileError`] already rendered with the path.
pub(super) fn load(path: &Path) -> Result<ConfigFile, String> {
    let text = regular_file::read_to_string(path, regular_file::MAX_CONFIG_FILE)
        .map_err(|error| format!("cannot read config file {}: {error}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new(""));
    let mut file = parse(&text, base).map_err(|error| error.at(path))?;
    file.extras.path = Some(path.to_owned());
    Ok(file)
}

/// Parses config `text`; relative paths are joined to `base`.
pub(super) fn parse(text: &str, base: &Path) -> Result<ConfigFile, FileError> {
    let lines = Lines(text);
    let table = DeTable::parse(text).map_err(|error| FileError {
        line: lines.of(error.span().map_or(0, |span| span.start)),
        key: String::new(),
        reason: first_line(error.message()),
    })?;
    let mut file = ConfigFile::default();
    for (key, value) in table.get_ref() {
        let line = lines.of(key.span().start);
        let name = key.get_ref().as_ref();
        let wrong = |reason: &str| FileError {
            line,
            key: name.to_owned(),
            reason: reason.to_owned(),
        };
        match name {
            "guest" => {
                let table = value.get_ref().as_table().ok_or_else(|| wrong(NOT_TABLE))?;
                file.extras.guest = scalars(table, name, &lines)?;
            }
            "plugins" => {
                let table = value.get_ref().as_table().ok_or_else(|| wrong(NOT_TABLE))?;
                for (plugin, settings) in table {
                    let key = format!("plugins.{}", plugin.get_ref());
                    let settings = settings.get_ref().as_table().ok_or_else(|| FileError {
                        line: lines.of(plugin.span().start),
                        key: key.clone(),
                        reason: NOT_TABLE.to_owned(),
                    })?;
                    let pairs = scalars(settings, &key, &lines)?;
                    file.extras
                        .plugins
                        .insert(plugin.get_ref().to_string(), pairs);
                }
            }
            "handler" => {
                let handlers = handlers(value.get_ref(), base, &lines).map_err(|error| {
                    error.unwrap_or_else(|| wrong("expected [[handler]] tables"))
                })?;
                file.handlers = Some((line, handlers));
            }
            _ => file.flags.push(FlagEntry {
                key: name.to_owned(),
                line,
                value: flag_value(value.get_ref()).map_err(wrong)?,
            }),
        }
    }
    check_plugin_names(&file, &table, &lines)?;
    Ok(file)
}

const NOT_TABLE: &str = "expected a table";

/// A `[plugins.NAME]` table must name a `[[handler]]` of the file (when it has handlers).
fn check_plugin_names(
    file: &ConfigFile,
    table: &Spanned<DeTable<'_>>,
    lines: &Lines<'_>,
) -> Result<(), FileError> {
    let Some((_, handlers)) = &file.handlers else {
        return Ok(());
    };
    let Some(plugins) = table
        .get_ref()
        .get("plugins")
        .and_then(|value| value.get_ref().as_table())
    else {
        return Ok(());
    };
    for name in plugins.keys() {
        if !handlers.iter().any(|h| h.name == name.get_ref().as_ref()) {
            return Err(FileError {
                line: lines.of(name.span().start),
                key: format!("plugins.{}", name.get_ref()),
                reason: "names no [[handler]] (a handler's name is its `name` or its component's file stem)".to_owned(),
            });
        }
    }
    Ok(())
}

/// A flag's value: a boolean, a scalar, or an array of scalars.
fn flag_value(value: &DeValue<'_>) -> Result<FileValue, &'static str> {
    match value {
        DeValue::Boolean(on) => Ok(FileValue::Switch(*on)),
        DeValue::Array(items) => items
            .iter()
            .map(|item| scalar(item.get_ref()).ok_or("expected an array of strings or numbers"))
            .collect::<Result<_, _>>()
            .map(FileValue::Many),
        other => scalar(other)
            .map(FileValue::One)
            .ok_or("expected a string, number, boolean or array"),
    }
}

/// A string, integer, float or boolean as text; `None` for tables, arrays and datetimes.
fn scalar(value: &DeValue<'_>) -> Option<String> {
    match value {
        DeValue::String(text) => Some(text.to_string()),
        DeValue::Integer(number) => i128::from_str_radix(number.as_str(), number.radix())
            .ok()
            .map(|n| n.to_string()),
        DeValue::Float(number) => Some(number.as_str().to_owned()),
        DeValue::Boolean(on) => Some(on.to_string()),
        _ => None,
    }
}

/// The pairs of a table of scalars (`[guest]`, `[plugins.NAME]`).
fn scalars(
    table: &DeTable<'_>,
    prefix: &str,
    lines: &Lines<'_>,
) -> Result<Vec<(String, String)>, FileError> {
    table
        .iter()
        .map(|(key, value)| {
            let text = scalar(value.get_ref()).ok_or_else(|| FileError {
                line: lines.of(key.span().start),
                key: format!("{prefix}.{}", key.get_ref()),
                reason: "expected a string, number or boolean".to_owned(),
            })?;
            Ok((key.get_ref().to_string(), text))
        })
        .collect()
}

/// The `[[handler]]` array; `Err(None)` when the value is not an array of tables.
fn handlers(
    value: &DeValue<'_>,
    base: &Path,
    lines: &Lines<'_>,
) -> Result<Vec<HandlerEntry>, Option<FileError>> {
    let items = value.as_array().ok_or(None)?;
    items
        .iter()
        .map(|item| {
            let table = item.get_ref().as_table().ok_or(None)?;
            handler(table, lines.of(item.span().start), base, lines).map_err(Some)
        })
        .collect()
}

fn handler(
    table: &DeTable<'_>,
    line: usize,
    base: &Path,
    lines: &Lines<'_>,
) -> Result<HandlerEntry, FileError> {
    let mut route = ".*".to_owned();
    let mut route_line = line;
    let mut component = None;
    let mut name = None;
    for (key, value) in table {
        let key_line = lines.of(key.span().start);
        let slot = match key.get_ref().as_ref() {
            "route" => {
                route_line = key_line;
                &mut route
            }
            "component" => component.insert(String::new()),
            "name" => name.insert(String::new()),
            other => {
                return Err(FileError {
                    line: key_line,
                    key: format!("handler.{other}"),
                    reason: "unknown key (a handler has route, component and name)".to_owned(),
                });
            }
        };
        *slot = value
            .get_ref()
            .as_str()
            .ok_or_else(|| FileError {
                line: key_line,
                key: format!("handler.{}", key.get_ref()),
                reason: "expected a string".to_owned(),
            })?
            .to_owned();
    }
    if let Err(reason) = crate::runtime::route_regex(&route) {
        return Err(FileError {
            line: route_line,
            key: "handler.route".to_owned(),
            reason: format!("{route:?} is {reason}"),
        });
    }
    let component = component.ok_or_else(|| FileError {
        line,
        key: "handler".to_owned(),
        reason: "a handler needs a component".to_owned(),
    })?;
    let component = base.join(component);
    let name = name.unwrap_or_else(|| {
        component
            .file_stem()
            .map_or_else(String::new, |stem| stem.to_string_lossy().into_owned())
    });
    Ok(HandlerEntry {
        route,
        component,
        name,
        line,
    })
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or("invalid TOML").to_owned()
}

/// Byte offsets to 1-based line numbers.
struct Lines<'a>(&'a str);

impl Lines<'_> {
    fn of(&self, offset: usize) -> usize {
        let end = offset.min(self.0.len());
        self.0.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> ConfigFile {
        parse(text, Path::new("/etc/eddy")).expect("parses")
    }

    fn error(text: &str) -> FileError {
        parse(text, Path::new("/etc/eddy")).expect_err("refused")
    }

    #[test]
    fn flags_keep_their_lines_and_values() {
        let file = parsed("# a comment\nworkers = 2\n\ngzip = true\nlisten = [\"a\", \"b\"]\n");
        let entry = |key: &str| file.flags.iter().find(|f| f.key == key).expect("key");
        assert_eq!(entry("workers").line, 2);
        assert_eq!(entry("workers").value, FileValue::One("2".into()));
        assert_eq!(entry("gzip").line, 4);
        assert_eq!(entry("gzip").value, FileValue::Switch(true));
        assert_eq!(
            entry("listen").value,
            FileValue::Many(vec!["a".into(), "b".into()])
        );
    }

    #[test]
    fn handlers_resolve_against_the_file_and_default_their_name_and_route() {
        let file = parsed(
            "[[handler]]\nroute = \"/api/.*\"\ncomponent = \"inspect.wasm\"\n\n[[handler]]\ncomponent = \"/abs/hello.wasm\"\nname = \"hi\"\n[plugins.hi]\ngreeting = \"hey\"\ncount = 3\n",
        );
        let (_, handlers) = file.handlers.expect("handlers");
        assert_eq!(handlers[0].route, "/api/.*");
        assert_eq!(
            handlers[0].component,
            PathBuf::from("/etc/eddy/inspect.wasm")
        );
        assert_eq!(handlers[0].name, "inspect");
        assert_eq!(handlers[1].route, ".*");
        assert_eq!(handlers[1].name, "hi");
        assert_eq!(
            file.extras.plugins["hi"],
            [
                ("count".into(), "3".into()),
                ("greeting".into(), "hey".into())
            ]
        );
    }

    #[test]
    fn mistakes_name_their_line_and_key() {
        let e = error("workers = 2\nlisten = { a = 1 }\n");
        assert_eq!((e.line, e.key.as_str()), (2, "listen"));
        let e = error("[guest]\nport = [1]\n");
        assert_eq!((e.line, e.key.as_str()), (2, "guest.port"));
        let e = error("[[handler]]\ncomponent = \"a.wasm\"\nroot = \"/\"\n");
        assert_eq!((e.line, e.key.as_str()), (3, "handler.root"));
        let e = error("[[handler]]\ncomponent = \"a.wasm\"\n[plugins.b]\nx = \"1\"\n");
        assert_eq!((e.line, e.key.as_str()), (3, "plugins.b"));
        let e = error("[[handler]]\ncomponent = \"a.wasm\"\nroute = \"/a((\"\n");
        assert_eq!((e.line, e.key.as_str()), (3, "handler.route"));
        assert_eq!(e.reason, "\"/a((\" is not a regex: unclosed group");
        let e = error("workers = 2\nworkers = 3\n");
        assert_eq!(e.line, 2);
        assert_eq!(
            e.at(Path::new("eddy.toml")).lines().count(),
            1,
            "one line: {e:?}"
        );
    }
}
