//! Where an export writes ([`Target`]), and how the command line's `-o` names it.

use std::path::{Path, PathBuf};

use super::error::ExportError;
use super::format::Format;
#[cfg(feature = "object-store")]
use super::object;

/// Where an export writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Standard output: no checkpoint, no resume.
    Stdout,
    /// A file, written through a hidden partial file and checkpoint beside it (a symlink's
    /// target for a symlink); a character device, FIFO or open file descriptor is written straight through.
    File(PathBuf),
    /// An object in a bucket (`s3://`, `gs://`, `az://`), written as a multipart upload with
    /// its checkpoint beside it in the bucket ([`object`]).
    #[cfg(feature = "object-store")]
    Object(object::ObjectUrl),
}

impl Target {
    /// An output as the command line's `-o` names it, with the format its name's extension
    /// says (`None`: no known extension): `-` is standard output, `s3://`, `gs://` and `az://`
    /// URLs are objects (feature `object-store`), `file://PATH` and any other text a file.
    ///
    /// # Errors
    /// An object URL that names no object ([`object::ObjectUrl::parse`] says why), or one
    /// without the feature `object-store`: an error of kind
    /// [`ExportErrorKind::Output`](super::ExportErrorKind::Output).
    ///
    /// # Examples
    /// ```
    /// use xp_export::export::{Format, Target};
    /// let (target, format) = Target::parse("exports/day.parquet")?;
    /// assert_eq!(target, Target::File("exports/day.parquet".into()));
    /// assert_eq!(format, Some(Format::Parquet));
    /// assert_eq!(Target::parse("-")?, (Target::Stdout, None));
    /// let local = Target::parse("file://localhost/tmp/day.csv")?;
    /// assert_eq!(local, (Target::File("/tmp/day.csv".into()), Some(Format::Csv)));
    /// # Ok::<(), xp_export::export::ExportError>(())
    /// ```
    pub fn parse(output: &str) -> Result<(Target, Option<Format>), ExportError> {
        if output == "-" {
            return Ok((Target::Stdout, None));
        }
        if let Some(path) = output.strip_prefix("file://") {
            // `file://localhost/PATH` is this machine's `/PATH` (RFC 8089), as `file:///PATH`.
            let path = match path.strip_prefix("localhost") {
                Some(rest) if rest.starts_with('/') => rest,
                _ => path,
            };
            let (format, _) = Format::from_path(Path::new(path));
            return Ok((Target::File(PathBuf::from(path)), format));
        }
        #[cfg(feature = "object-store")]
        if object::ObjectUrl::is_url(output) {
            let url = object::ObjectUrl::parse(output)?;
            let (format, _) = Format::from_path(Path::new(url.key()));
            return Ok((Target::Object(url), format));
        }
        #[cfg(not(feature = "object-store"))]
        if output.contains("://") {
            return Err(ExportError::output(format!(
                "{output:?} is a URL, and this build writes files only: build xp-export with \
                 the feature `object-store` for s3://, gs:// and az:// outputs"
            )));
        }
        let (format, _) = Format::from_path(Path::new(output));
        Ok((Target::File(PathBuf::from(output)), format))
    }

    /// The output's name, as its extension says its format: a file's path, an object's key.
    pub(crate) fn name(&self) -> Option<&Path> {
        match self {
            Target::File(p) => Some(p),
            Target::Stdout => None,
            #[cfg(feature = "object-store")]
            Target::Object(url) => Some(Path::new(url.key())),
        }
    }
}
