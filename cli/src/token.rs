//! Secrets (the apptoken, the OAuth client secret, the private key): from a file, standard
//! input or the environment, never from argv.
//!
//! A token file (or standard input, `-`) holds the token on one line: a UTF-8 byte order mark (as
//! Notepad writes) and the whitespace around the token are dropped; a second non-empty line is
//! refused, since the file is then not a token file or holds more than the token. A file that
//! group or others can read is used with a warning, as ssh warns of a key file. A private key
//! file is PEM, read whole.

use std::io::Read;
use std::path::Path;

use crate::failure::Failure;

/// A secret held on one line: what it is called, and the variable that may hold it instead of
/// a file.
pub struct OneLine {
    pub what: &'static str,
    pub env: &'static str,
}

/// The project's apptoken.
pub const APPTOKEN: OneLine = OneLine {
    what: "apptoken",
    env: "XTREMEPUSH_APPTOKEN",
};

/// The OAuth 2.0 client secret.
pub const CLIENT_SECRET: OneLine = OneLine {
    what: "client secret",
    env: "XTREMEPUSH_CLIENT_SECRET",
};

/// The largest secret file read: a token is tens of bytes, a PEM key a few KiB, and
/// `/dev/zero` never ends.
const MAX_TOKEN_FILE: u64 = 64 * 1024;

/// Whether the variable of `kind` holds anything but whitespace.
pub fn env_is_set(kind: &OneLine) -> bool {
    std::env::var(kind.env).is_ok_and(|v| !v.trim().is_empty())
}

/// Reads the apptoken from the file named, or the environment; never from argv.
pub fn apptoken(file: Option<&Path>) -> Result<String, Failure> {
    one_line_secret(&APPTOKEN, file)
}

/// Reads a one-line secret from the file named ("-": standard input), or else from its
/// variable; never from argv.
pub fn one_line_secret(kind: &OneLine, file: Option<&Path>) -> Result<String, Failure> {
    let what = kind.what;
    let env = kind.env;
    let (text, source) = match file {
        Some(path) if path == Path::new("-") => {
            let text = read_limited(std::io::stdin().lock(), what).map_err(|e| {
                Failure::usage(format!("cannot read the {what} from standard input: {e}"))
            })?;
            (text, "standard input".to_string())
        }
        Some(path) => {
            let source = format!("the {what} file {}", path.display());
            let text = read_private_file(path, what)
                .map_err(|e| Failure::usage(format!("cannot read {source}: {e}")))?;
            (text, source)
        }
        None => (std::env::var(env).unwrap_or_default(), String::new()),
    };
    match (one_line(&text), file) {
        (Ok(token), _) if !token.is_empty() => Ok(token.to_string()),
        (Ok(_), Some(_)) => Err(Failure::usage(format!("{source} is empty"))),
        (Ok(_), None) => Err(Failure::usage(format!(
            "no {what}: set {env}, or pass a file holding it"
        ))),
        (Err(lines), Some(_)) => Err(Failure::usage(format!(
            "{source} holds {lines} non-empty lines: it must hold the {what} alone, on one line"
        ))),
        (Err(lines), None) => Err(Failure::usage(format!(
            "{env} holds {lines} non-empty lines: it must hold the {what} alone"
        ))),
    }
}

/// Reads a PEM private key whole (many lines), with the same size limit and permission
/// warning as a token file.
pub fn private_key(path: &Path) -> Result<String, Failure> {
    let source = format!("the private key file {}", path.display());
    let text = if path == Path::new("-") {
        read_limited(std::io::stdin().lock(), "private key")
    } else {
        read_private_file(path, "private key")
    }
    .map_err(|e| Failure::usage(format!("cannot read {source}: {e}")))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    if text.trim().is_empty() {
        return Err(Failure::usage(format!("{source} is empty")));
    }
    Ok(text.to_string())
}

/// Opens a file holding a secret, warns when others can read it, and reads it.
fn read_private_file(path: &Path, what: &str) -> std::io::Result<String> {
    std::fs::File::open(path).and_then(|f| {
        warn_if_others_can_read(path, &f, what);
        read_limited(f, what)
    })
}

/// The token in `text`: its one non-empty line, trimmed, without a leading byte order mark
/// (empty when there is none); `Err(n)` when `n` lines are not empty. No line's content is
/// ever part of a message.
fn one_line(text: &str) -> Result<&str, usize> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let token = lines.next().unwrap_or("");
    match lines.count() {
        0 => Ok(token),
        more => Err(more + 1),
    }
}

/// Reads a secret's text: UTF-8, at most [`MAX_TOKEN_FILE`] bytes.
fn read_limited(reader: impl Read, what: &str) -> std::io::Result<String> {
    let mut bytes = Vec::new();
    reader.take(MAX_TOKEN_FILE + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_TOKEN_FILE {
        return Err(std::io::Error::other(format!(
            "it is larger than {} KiB, which no {what} is",
            MAX_TOKEN_FILE / 1024
        )));
    }
    String::from_utf8(bytes)
        .map_err(|_| std::io::Error::other(format!("it is not UTF-8 text, which a {what} is")))
}

/// Warns on stderr when a regular file holding the token can be read by its group or by
/// others (a FIFO or `/dev/stdin` says nothing by its mode about who reads what flows through).
#[cfg(unix)]
fn warn_if_others_can_read(path: &Path, file: &std::fs::File, what: &str) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = file.metadata() else { return };
    let mode = meta.permissions().mode() & 0o777;
    if meta.is_file() && mode & 0o044 != 0 {
        crate::logging::warning(&format!(
            "the {what} file {} can be read by {} (mode {mode:03o}); \
             make it private: chmod 600 {}",
            path.display(),
            match mode & 0o044 {
                0o040 => "its group",
                0o004 => "other users",
                _ => "its group and other users",
            },
            path.display()
        ));
    }
}

#[cfg(not(unix))]
fn warn_if_others_can_read(_path: &Path, _file: &std::fs::File, _what: &str) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_strips_a_bom_and_whitespace_and_refuses_a_second_line() {
        assert_eq!(one_line("\u{feff}tok\r\n"), Ok("tok"));
        assert_eq!(one_line("\n  tok  \n\n"), Ok("tok"));
        assert_eq!(one_line("\u{feff}\n"), Ok(""));
        assert_eq!(one_line("tok\nother\n\nthird"), Err(3));
    }
}
