//! What a component is, read from its top-level import and export names before anything is
//! compiled: a wrong file is refused in milliseconds, not after a minute of compiling.
//!
//! Only names are read here (the `\0asm` header, the component's import and export
//! sections; nested modules are walked over, not decoded). Types are checked afterwards by
//! the linker, on the compiled component.

use wasmparser::{Encoding, Parser, Payload};

/// The interface a server guest exports.
pub const GUEST_EXPORT: &str = "eddy:io/guest@0.1.0";
/// The interface an eddy plugin exports.
pub const HANDLER_EXPORT: &str = "eddy:http/handler@0.1.0";
/// The interface a standard `wasi:http` handler exports, without its patch version.
pub const INCOMING_HANDLER: &str = "wasi:http/incoming-handler";

/// The kinds of component eddy runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A server guest (`eddy:io/guest`).
    Server,
    /// A plugin exporting `eddy:http/handler`: whole request in, whole response out.
    EddyPlugin,
    /// A plugin exporting `wasi:http/incoming-handler` 0.2.x.
    WasiHttpPlugin,
}

impl Kind {
    /// The kind of a component from its export names, if it is one eddy runs.
    pub fn of<'a>(exports: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        let mut kind = None;
        for name in exports {
            if same_track(name, GUEST_EXPORT) {
                return Some(Self::Server);
            } else if same_track(name, HANDLER_EXPORT) {
                kind = Some(Self::EddyPlugin);
            } else if kind.is_none() && is_wasi_02(name, INCOMING_HANDLER) {
                kind = Some(Self::WasiHttpPlugin);
            }
        }
        kind
    }
}

/// The top-level import and export names of a component.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Shape {
    /// Import names, e.g. `wasi:io/streams@0.2.4`.
    pub imports: Vec<String>,
    /// Export names, e.g. `eddy:http/handler@0.1.0`.
    pub exports: Vec<String>,
}

/// Reads the names of a component's imports and exports.
///
/// # Errors
/// A sentence saying what the bytes are instead: not WebAssembly, a core module, or a
/// component that does not parse.
pub fn shape(bytes: &[u8]) -> Result<Shape, String> {
    if !bytes.starts_with(b"\0asm") {
        return Err("is not a WebAssembly component (no \\0asm header)".into());
    }
    let mut shape = Shape::default();
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| format!("is not a valid WebAssembly component: {e}"))?;
        match payload {
            Payload::Version {
                encoding: Encoding::Module,
                ..
            } if depth == 0 => {
                return Err("is a core WebAssembly module, not a component".into());
            }
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    let import = import.map_err(|e| format!("has a bad import section: {e}"))?;
                    shape.imports.push(import.name.name.to_owned());
                }
            }
            Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    let export = export.map_err(|e| format!("has a bad export section: {e}"))?;
                    shape.exports.push(export.name.name.to_owned());
                }
            }
            _ => {}
        }
    }
    Ok(shape)
}

/// Checks that a component is of `expected` kind and imports only what that kind is given.
///
/// # Errors
/// A sentence (to follow the component's name) saying what is wrong.
pub fn check(shape: &Shape, expected: &[Kind]) -> Result<Kind, String> {
    let Some(kind) =
        Kind::of(shape.exports.iter().map(String::as_str)).filter(|kind| expected.contains(kind))
    else {
        let wanted: Vec<&str> = expected
            .iter()
            .map(|kind| match kind {
                Kind::Server => "`eddy:io/guest@0.1.0`",
                Kind::EddyPlugin => "`eddy:http/handler@0.1.0`",
                Kind::WasiHttpPlugin => "`wasi:http/incoming-handler@0.2.x`",
            })
            .collect();
        let found = if shape.exports.is_empty() {
            "nothing".to_owned()
        } else {
            shape.exports.join(", ")
        };
        return Err(format!(
            "exports {found}, but must export {}",
            wanted.join(" or ")
        ));
    };
    if let Some(import) = shape.imports.iter().find(|name| !is_given(kind, name)) {
        let given = match kind {
            Kind::Server => "eddy:io and eddy:http/plugins",
            Kind::EddyPlugin | Kind::WasiHttpPlugin => {
                "eddy:http/connection, WASI 0.2, wasi:http 0.2 and wasi:config/store 0.2.0-rc.1"
            }
        };
        return Err(format!(
            "imports `{import}`, which it is not given (this kind of component gets {given})"
        ));
    }
    Ok(kind)
}

/// Whether a component of `kind` may import `name`.
fn is_given(kind: Kind, name: &str) -> bool {
    match kind {
        Kind::Server => name.starts_with("eddy:io/") || name.starts_with("eddy:http/"),
        Kind::EddyPlugin | Kind::WasiHttpPlugin => {
            same_track(name, "eddy:http/types@0.1.0")
                || same_track(name, "eddy:http/connection@0.1.0")
                || [
                    "wasi:io/",
                    "wasi:clocks/",
                    "wasi:random/",
                    "wasi:cli/",
                    "wasi:filesystem/",
                    "wasi:sockets/",
                    "wasi:http/",
                ]
                .iter()
                .any(|package| name.starts_with(package) && name.contains("@0.2."))
                || name == "wasi:config/store@0.2.0-rc.1"
        }
    }
}

/// Whether `name` is `interface` at any 0.2.x version.
fn is_wasi_02(name: &str, interface: &str) -> bool {
    name.strip_prefix(interface)
        .and_then(|rest| rest.strip_prefix("@0.2."))
        .is_some_and(|patch| !patch.is_empty() && patch.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether `name` names the same interface as `wanted` on a semver-compatible version
/// (same `0.x`, any patch).
fn same_track(name: &str, wanted: &str) -> bool {
    let track = |text: &str| -> Option<String> {
        let (interface, version) = text.split_once('@')?;
        let mut parts = version.split('.');
        let (major, minor) = (parts.next()?, parts.next()?);
        Some(if major == "0" {
            format!("{interface}@0.{minor}")
        } else {
            format!("{interface}@{major}")
        })
    };
    track(name).is_some_and(|track_name| Some(track_name) == track(wanted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape_of(imports: &[&str], exports: &[&str]) -> Shape {
        Shape {
            imports: imports.iter().map(|s| (*s).to_owned()).collect(),
            exports: exports.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn kinds_follow_exports_on_any_compatible_patch() {
        assert_eq!(Kind::of(["eddy:io/guest@0.1.0"]), Some(Kind::Server));
        assert_eq!(
            Kind::of(["eddy:http/handler@0.1.3"]),
            Some(Kind::EddyPlugin)
        );
        for patch in 0..=12 {
            let name = format!("wasi:http/incoming-handler@0.2.{patch}");
            assert_eq!(Kind::of([name.as_str()]), Some(Kind::WasiHttpPlugin));
        }
        assert_eq!(Kind::of(["wasi:http/incoming-handler@0.3.0"]), None);
        assert_eq!(Kind::of(["wasi:cli/run@0.2.0"]), None);
    }

    #[test]
    fn plugins_may_import_wasi_and_nothing_else() {
        let plugin = shape_of(
            &["wasi:io/streams@0.2.10", "wasi:http/types@0.2.10"],
            &["wasi:http/incoming-handler@0.2.10"],
        );
        assert_eq!(
            check(&plugin, &[Kind::EddyPlugin, Kind::WasiHttpPlugin]),
            Ok(Kind::WasiHttpPlugin)
        );
        let greedy = shape_of(&["eddy:io/net@0.1.0"], &["eddy:http/handler@0.1.0"]);
        let error = check(&greedy, &[Kind::EddyPlugin]).expect_err("refused");
        assert!(error.contains("imports `eddy:io/net@0.1.0`"), "{error}");
    }

    #[test]
    fn wrong_exports_are_named() {
        let server = shape_of(&[], &["eddy:io/guest@0.1.0"]);
        let error = check(&server, &[Kind::EddyPlugin, Kind::WasiHttpPlugin]).expect_err("no");
        assert!(
            error.starts_with("exports eddy:io/guest@0.1.0, but must export"),
            "{error}"
        );
        let empty = shape_of(&[], &[]);
        assert!(
            check(&empty, &[Kind::Server])
                .expect_err("no")
                .starts_with("exports nothing")
        );
    }

    #[test]
    fn non_components_are_named() {
        assert!(
            shape(b"hello")
                .expect_err("text")
                .contains("no \\0asm header")
        );
        let core = b"\0asm\x01\0\0\0";
        assert!(
            shape(core)
                .expect_err("core")
                .contains("core WebAssembly module")
        );
        let empty_component = b"\0asm\x0d\0\x01\0";
        assert_eq!(shape(empty_component), Ok(Shape::default()));
        assert!(shape(b"\0asm\x0d\0\x01\0\x7f\x7f").is_err());
    }
}
