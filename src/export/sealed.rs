//! Sealed files: JSON whose last field is a CRC-32 of every byte before it, replaced
//! atomically and durably. The one scheme behind the checkpoint, the record of a finished export
//! in `.NAME.complete`, and the state of incremental runs: an edited or damaged file is told apart
//! from a good one, and a reader sees the old file or the new one, never half.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::files::{remove_if_present, resolve, sync_dir, temp_path};

/// What ends the sealed JSON's body and starts its checksum. JSON strings cannot hold a raw
/// line break, so its last occurrence is the checksum's.
const SEAL: &[u8] = b",\n  \"checksum\": \"crc32:";

/// `value` as pretty JSON whose last field, `checksum`, is the CRC-32 of every byte before it.
pub(crate) fn seal<T: Serialize>(value: &T) -> io::Result<Vec<u8>> {
    let mut body = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    let Some(len) = body.len().checked_sub(2).filter(|_| body.ends_with(b"\n}")) else {
        return Err(io::Error::other("not a JSON object with fields"));
    };
    body.truncate(len);
    let crc = crc32fast::hash(&body);
    body.extend_from_slice(SEAL);
    body.extend_from_slice(format!("{crc:08x}\"\n}}\n").as_bytes());
    Ok(body)
}

/// The value of JSON written by [`seal`], or what is wrong with it.
pub(crate) fn unseal<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let at = bytes
        .windows(SEAL.len())
        .rposition(|w| w == SEAL)
        .ok_or("it has no checksum")?;
    let expected = format!("{:08x}\"\n}}\n", crc32fast::hash(&bytes[..at]));
    if &bytes[at + SEAL.len()..] != expected.as_bytes() {
        return Err("its checksum does not match its contents: it was edited or damaged".into());
    }
    serde_json::from_slice(bytes).map_err(|e| format!("it cannot be read: {e}"))
}

/// Replaces the file at `path` with `value`, sealed, atomically and durably: written to
/// [`temp_path`] beside it, synced, renamed over it, and the directory synced. A failure
/// leaves the old file and no temporary one. A symlink is followed, as an output's is: its
/// target is replaced (the temporary file beside the target), and the link stays.
pub(crate) fn replace<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let bytes = seal(value)?;
    let path = &resolve(path)?;
    let temp = temp_path(path);
    let written = (|| {
        let mut file = fs::File::create(&temp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = remove_if_present(&temp);
    }
    written?;
    sync_dir(path.parent().unwrap_or(Path::new("")));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Doc {
        version: u32,
        newest: u64,
    }

    #[test]
    fn a_sealed_file_reads_back_and_any_edit_breaks_its_seal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let doc = Doc {
            version: 1,
            newest: 42,
        };
        replace(&path, &doc).unwrap();
        let bytes = fs::read(&path).unwrap();
        assert_eq!(unseal::<Doc>(&bytes), Ok(doc));
        let edited = String::from_utf8(bytes).unwrap().replace("42", "43");
        let err = unseal::<Doc>(edited.as_bytes()).unwrap_err();
        assert!(err.contains("edited or damaged"), "{err}");
        assert_eq!(
            unseal::<Doc>(b"{\"version\": 1}").unwrap_err(),
            "it has no checksum"
        );
        let leftovers = fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_is_followed_and_stays_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("kept").join("s.json");
        fs::create_dir(real.parent().unwrap()).unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink("kept/s.json", &link).unwrap();
        for newest in [1, 2] {
            let doc = Doc { version: 1, newest };
            replace(&link, &doc).unwrap();
            assert!(fs::symlink_metadata(&link).unwrap().is_symlink());
            assert_eq!(unseal::<Doc>(&fs::read(&real).unwrap()), Ok(doc));
        }
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            2,
            "the link and kept/"
        );
        assert_eq!(fs::read_dir(real.parent().unwrap()).unwrap().count(), 1);
    }

    #[test]
    fn a_failed_replace_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let old = Doc {
            version: 1,
            newest: 1,
        };
        replace(&path, &old).unwrap();
        // A directory where the temporary file would go: the write fails before the rename.
        fs::create_dir(temp_path(&path)).unwrap();
        let new = Doc {
            version: 1,
            newest: 2,
        };
        assert!(replace(&path, &new).is_err());
        assert_eq!(unseal::<Doc>(&fs::read(&path).unwrap()), Ok(old));
    }
}
