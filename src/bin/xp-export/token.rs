//! The apptoken: from a file, standard input or the environment, never from argv.

use std::io::Read;
use std::path::Path;

use crate::failure::Failure;

const TOKEN_ENV: &str = "XTREMEPUSH_APPTOKEN";

/// Reads the apptoken from the file named, or the environment; never from argv.
pub fn apptoken(file: Option<&Path>) -> Result<String, Failure> {
    let token = match file {
        Some(path) if path == Path::new("-") => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).map_err(|e| {
                Failure::usage(format!("cannot read the apptoken from standard input: {e}"))
            })?;
            s
        }
        Some(path) => std::fs::read_to_string(path).map_err(|e| {
            Failure::usage(format!(
                "cannot read the apptoken file {}: {e}",
                path.display()
            ))
        })?,
        None => std::env::var(TOKEN_ENV).unwrap_or_default(),
    };
    let token = token.trim().to_string();
    if token.is_empty() {
        let place = match file {
            Some(p) => format!("the apptoken file {} is empty", p.display()),
            None => format!(
                "no apptoken: set {TOKEN_ENV}, or pass --apptoken-file PATH (a file holding it)"
            ),
        };
        return Err(Failure::usage(place));
    }
    Ok(token)
}
