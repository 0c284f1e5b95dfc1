//! [`ParseError`]: why a text is not one of the crate's values (an operator, a condition, a
//! mode, a shard, a region, a JWT algorithm), as the command line reads them.

/// Why a text could not be read as one of the crate's values. `Display` says what is wrong
/// and what is expected, in one line:
///
/// ```
/// use xp_export::error::ParseErrorKind;
/// use xp_export::query::Mode;
/// let e = "fast".parse::<Mode>().unwrap_err();
/// assert_eq!(e.kind(), ParseErrorKind::Mode);
/// assert_eq!(e.to_string(), r#"unknown mode "fast": expected offset or keyset"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    kind: ParseErrorKind,
    message: String,
}

/// What a [`ParseError`] failed to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// An [`Op`](crate::Op): `=`, `!=`, `<`, `<=`, `>`, `>=`, `in`, `not in`.
    Op,
    /// A [`Condition`](crate::Condition): `FIELD OP VALUE`.
    Condition,
    /// A [`Mode`](crate::query::Mode): `offset` or `keyset`.
    Mode,
    /// A [`Shard`](crate::query::Shard): `I/N`.
    Shard,
    /// A [`Region`](crate::client::Region): `eu` or `us`.
    Region,
    /// A [`JwtAlgorithm`](crate::client::JwtAlgorithm): `RS256`, `ES256`, ….
    JwtAlgorithm,
}

impl ParseError {
    pub(crate) fn new(kind: ParseErrorKind, message: impl Into<String>) -> Self {
        ParseError {
            kind,
            message: message.into(),
        }
    }

    /// The same message, as the error of reading a `kind` (an operator's error inside a
    /// condition's, say).
    pub(crate) fn within(self, kind: ParseErrorKind) -> Self {
        ParseError { kind, ..self }
    }

    /// What was being read.
    pub fn kind(&self) -> ParseErrorKind {
        self.kind
    }
}
