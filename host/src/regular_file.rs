//! Reading the files an operator names (the config file, certificates and keys, components)
//! without trusting what they are: regular files only, under a size cap, opened without
//! blocking. A path pointed at a FIFO, a terminal or a device such as `/dev/zero` is refused
//! at once with a reason, instead of hanging a reload or filling memory.
//!
//! This module performs no other I/O than the one read it is asked for.

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _};
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::Path;

/// Largest config file read (a TOML file of flags, handlers and settings).
pub const MAX_CONFIG_FILE: u64 = 1024 * 1024;

/// Largest certificate chain, key or CA file read (PEM).
pub const MAX_PEM_FILE: u64 = 1024 * 1024;

/// Largest component read: far above the 12–18 MiB that Python and JavaScript toolchains
/// produce, far below what would hurt to hold while it compiles.
pub const MAX_COMPONENT_FILE: u64 = 512 * 1024 * 1024;

/// Reads the whole regular file at `path`, at most `cap` bytes.
///
/// # Errors
/// The file cannot be opened or read, is not a regular file (the error says what it is), or
/// is larger than `cap`.
pub fn read(path: &Path, cap: u64) -> io::Result<Vec<u8>> {
    // Non-blocking, so opening a FIFO with no writer returns at once; it changes nothing for
    // a regular file. No controlling terminal is ever taken.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(io::Error::other(format!(
            "not a regular file ({})",
            kind(&metadata.file_type())
        )));
    }
    if metadata.len() > cap {
        return Err(too_large(metadata.len(), cap));
    }
    read_capped(file, cap)
}

/// Reads the whole regular file at `path` as UTF-8 text, at most `cap` bytes.
///
/// # Errors
/// As [`read`], and text that is not UTF-8.
pub fn read_to_string(path: &Path, cap: u64) -> io::Result<String> {
    String::from_utf8(read(path, cap)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// Reads at most `cap` bytes: a file that grew past its size since it was checked is
/// refused, not read without end.
fn read_capped(file: File, cap: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(too_large(bytes.len() as u64, cap));
    }
    Ok(bytes)
}

fn too_large(size: u64, cap: u64) -> io::Error {
    io::Error::other(format!(
        "{size} bytes or more, over the cap of {cap} bytes for this file"
    ))
}

fn kind(file_type: &std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_fifos_and_directories_are_refused_at_once() {
        let error = read(Path::new("/dev/zero"), 1024).expect_err("a device");
        assert!(error.to_string().contains("a character device"), "{error}");
        let error = read(Path::new("/"), 1024).expect_err("a directory");
        assert!(error.to_string().contains("a directory"), "{error}");
        let fifo = std::env::temp_dir().join(format!("eddy-fifo-{}", std::process::id()));
        let _ = std::fs::remove_file(&fifo);
        let name = std::ffi::CString::new(fifo.to_str().expect("utf-8")).expect("no NUL");
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        let error = read(&fifo, 1024).expect_err("a FIFO, refused without blocking");
        assert!(error.to_string().contains("a FIFO"), "{error}");
        let _ = std::fs::remove_file(&fifo);
    }

    #[test]
    fn files_over_the_cap_are_refused() {
        let path = std::env::temp_dir().join(format!("eddy-capped-{}", std::process::id()));
        std::fs::write(&path, vec![b'x'; 2048]).expect("write");
        assert_eq!(read(&path, 2048).expect("at the cap").len(), 2048);
        let error = read(&path, 2047).expect_err("over the cap");
        assert!(
            error.to_string().contains("over the cap of 2047 bytes"),
            "{error}"
        );
        let _ = std::fs::remove_file(&path);
    }
}
