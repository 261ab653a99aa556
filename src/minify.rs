//! The whitespace between the tokens of JSON text, told from the text itself.
//!
//! Fetch stores each page on one line, and flatten writes an object or array group value
//! compactly so an NDJSON row never spans lines: both drop exactly the whitespace outside
//! strings, as serde_json's compact writer has none, and keep every other byte as it was.

use std::borrow::Cow;

/// A scan over JSON text, byte by byte: inside a string or not, after a backslash or not.
#[derive(Debug, Default, Clone, Copy)]
pub struct Minify {
    in_string: bool,
    escaped: bool,
}

impl Minify {
    /// Whether the next byte is inside a string (its closing quote included).
    pub fn in_string(&self) -> bool {
        self.in_string
    }

    /// Reads the next byte of the text: whether it is kept (not whitespace between tokens).
    pub fn keeps(&mut self, b: u8) -> bool {
        if self.in_string {
            if self.escaped {
                self.escaped = false;
            } else if b == b'\\' {
                self.escaped = true;
            } else if b == b'"' {
                self.in_string = false;
            }
            true
        } else if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            false
        } else {
            self.in_string = b == b'"';
            true
        }
    }
}

/// `text` without the whitespace between its tokens; borrowed when it has none.
pub fn minify(text: Cow<'_, str>) -> Cow<'_, str> {
    if !text.bytes().any(|b| b.is_ascii_whitespace()) {
        return text;
    }
    let mut scan = Minify::default();
    // A non-ASCII character is ordinary text to the scan: never a quote, backslash or space.
    let kept = text
        .chars()
        .filter(|&c| scan.keeps(if c.is_ascii() { c as u8 } else { 0x80 }));
    Cow::Owned(kept.collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_whitespace_between_tokens_only() {
        let text = "{\n  \"a b\": [1, 2.50],\n\t\"c\": \"x \\\" y\\\\\", \"d\" : null,\"é\":\" é \"\r\n}";
        assert_eq!(
            minify(Cow::Borrowed(text)),
            r#"{"a b":[1,2.50],"c":"x \" y\\","d":null,"é":" é "}"#
        );
        assert!(matches!(minify(Cow::Borrowed("[1,2]")), Cow::Borrowed("[1,2]")));
    }
}
