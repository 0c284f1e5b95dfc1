//! Text that came from the server, made fit to show: control and bidi characters escaped (a
//! hostile message cannot move the cursor, clear the screen or fake a line), long text cut,
//! and, with the client's scrubber, secrets taken out of an error's detail and of every link of
//! its `source()` chain (a `serde_json` error quotes the value it choked on).

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;

/// The most characters of one server text an error shows.
pub(crate) const MAX_SHOWN: usize = 1000;

/// What removes secrets from a text: `None` when there is nothing to remove.
pub(crate) type Scrub<'a> = &'a dyn Fn(&str) -> Option<String>;

/// `text` fit to show on a terminal or in a log: control characters and the bidirectional
/// overrides escaped (`\n`, `\u{1b}`, `\u{202e}`), cut after [`MAX_SHOWN`] characters.
pub(crate) fn shown(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() || is_bidi_control(c);
    let long = text.chars().nth(MAX_SHOWN).is_some();
    if !long && !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len().min(4 * MAX_SHOWN));
    for (count, c) in text.chars().enumerate() {
        if count == MAX_SHOWN {
            let rest = text.chars().count() - MAX_SHOWN;
            out.push_str(&format!("… ({rest} more characters)"));
            break;
        }
        if unsafe_char(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The characters that reorder how text is displayed (the "Trojan Source" ones).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

/// A text fit to show and scrubbed: `None` when `text` is fine as it is.
pub(crate) fn fit(text: &str, scrub: Scrub<'_>) -> Option<String> {
    let shown = shown(text);
    match (scrub(&shown), shown) {
        (Some(scrubbed), _) => Some(scrubbed),
        (None, Cow::Owned(changed)) => Some(changed),
        (None, Cow::Borrowed(_)) => None,
    }
}

/// A link of an error's `source()` chain, replaced by its scrubbed text once any link of the
/// chain showed a secret or text unfit to show.
pub(crate) struct Scrubbed {
    text: String,
    source: Option<Box<Scrubbed>>,
}

impl fmt::Display for Scrubbed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Scrubbed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Scrubbed");
        d.field("text", &self.text);
        if let Some(s) = &self.source {
            d.field("source", s);
        }
        d.finish()
    }
}

impl StdError for Scrubbed {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}

/// The chain from `first` on, rewritten as [`Scrubbed`] links when any link's `Display` or
/// `Debug` must change; `None` when all of it may show as it is (and keeps its types).
pub(crate) fn scrub_chain(first: &(dyn StdError + 'static), scrub: Scrub<'_>) -> Option<Scrubbed> {
    let mut links: Vec<(String, Option<String>)> = Vec::new();
    let mut must_change = false;
    let mut cur = Some(first);
    while let Some(link) = cur {
        let text = link.to_string();
        let fitted = fit(&text, scrub);
        must_change |= fitted.is_some() || scrub(&format!("{link:?}")).is_some();
        links.push((text, fitted));
        cur = link.source();
    }
    if !must_change {
        return None;
    }
    links
        .into_iter()
        .rev()
        .fold(None, |source, (text, fitted)| {
            Some(Scrubbed {
                text: fitted.unwrap_or(text),
                source: source.map(Box::new),
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_are_escaped() {
        assert_eq!(shown("Authentication failed"), "Authentication failed");
        assert_eq!(
            shown("a\nb\r\u{1b}[2J\u{202e}c"),
            "a\\nb\\r\\u{1b}[2J\\u{202e}c"
        );
    }

    #[test]
    fn long_text_is_cut_and_says_how_much_is_left() {
        let text = "é".repeat(MAX_SHOWN + 5);
        let s = shown(&text);
        assert!(s.starts_with(&"é".repeat(MAX_SHOWN)));
        assert!(s.ends_with("… (5 more characters)"), "{s}");
        assert_eq!(shown(&"x".repeat(MAX_SHOWN)).len(), MAX_SHOWN);
    }

    #[test]
    fn a_chain_is_rewritten_only_when_a_link_must_change() {
        let scrub = |t: &str| {
            t.contains("s3cr3t")
                .then(|| t.replace("s3cr3t", "<redacted>"))
        };
        let clean = serde_json::from_str::<u8>("\"x\"").unwrap_err();
        assert!(scrub_chain(&clean, &scrub).is_none());
        let leaky = serde_json::from_str::<u8>("\"s3cr3t\"").unwrap_err();
        let chain = scrub_chain(&leaky, &scrub).unwrap();
        assert!(chain.to_string().contains("<redacted>"), "{chain}");
        assert!(!format!("{chain} {chain:?}").contains("s3cr3t"));
    }
}
