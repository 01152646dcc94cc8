//! Character-level scanning for the filter and order-by languages.
//!
//! The grammar is small and context-dependent (a double-quoted text is a *name* on the left of an
//! operator and a *string* on its right), so instead of a token stream the parser drives a
//! [`Cursor`] and asks it for the kind of token it expects next. Every position is a byte offset
//! into the original text.
//!
//! Lexical rules:
//! - whitespace is Unicode whitespace; keywords (`AND`, `LIKE`, `IN`, ...) are ASCII
//!   case-insensitive and must not run into a following name character;
//! - a bare name starts with a letter or `_` and continues with letters, digits and `_ . - / :`;
//! - quoted texts use `'`, `"` or `` ` ``. Inside one, `\q` (backslash + the quote) and `qq`
//!   (the quote doubled) stand for the quote itself and `\\` for one backslash; any other
//!   backslash is kept as it is (`'C:\data'` is `C:\data`);
//! - a number is `-?(digits[.digits*] | .digits)([eE][+-]?digits)?`.

use super::FilterError;

/// Whether `c` may start a bare name.
pub(crate) fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

/// Whether `c` may continue a bare name.
pub(crate) fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '/' | ':')
}

/// Whether `text` can be written without quotes after `<entity>.`.
pub(crate) fn is_bare_key(text: &str) -> bool {
    !text.is_empty() && text.chars().all(is_name_char)
}

/// A quoted text with its quote character and the byte offset of the opening quote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Quoted {
    pub quote: char,
    pub text: String,
    pub start: usize,
}

/// A read position in a filter or order-by text.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Cursor { text, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    /// The text from byte `start` (a position this cursor has returned) to the end.
    pub(crate) fn text_from(&self, start: usize) -> &'a str {
        &self.text[start..]
    }

    pub(crate) fn is_at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    pub(crate) fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    pub(crate) fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    /// Skips whitespace; says whether there was any.
    pub(crate) fn skip_whitespace(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
        self.pos > start
    }

    pub(crate) fn eat_char(&mut self, expected: char) -> bool {
        if self.peek() == Some(expected) {
            self.bump();
            true
        } else {
            false
        }
    }

    /// Whether the text at the cursor is `word` (ASCII case-insensitive) not followed by a name
    /// character.
    pub(crate) fn at_keyword(&self, word: &str) -> bool {
        let rest = self.rest();
        rest.len() >= word.len()
            && rest.is_char_boundary(word.len())
            && rest[..word.len()].eq_ignore_ascii_case(word)
            && !rest[word.len()..].chars().next().is_some_and(is_name_char)
    }

    /// Consumes `word` if [`Cursor::at_keyword`] holds.
    pub(crate) fn eat_keyword(&mut self, word: &str) -> bool {
        if self.at_keyword(word) {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    /// Reads a bare name (the cursor must be at a name-start character).
    pub(crate) fn bare_name(&mut self) -> (&'a str, usize) {
        let start = self.pos;
        if self.peek().is_some_and(is_name_start) {
            while self.peek().is_some_and(is_name_char) {
                self.bump();
            }
        }
        (&self.text[start..self.pos], start)
    }

    /// Reads name characters (possibly none), whatever the first one is.
    pub(crate) fn name_chars(&mut self) -> (&'a str, usize) {
        let start = self.pos;
        while self.peek().is_some_and(is_name_char) {
            self.bump();
        }
        (&self.text[start..self.pos], start)
    }

    /// Reads a quoted text; the cursor must be at `'`, `"` or `` ` ``.
    pub(crate) fn quoted(&mut self) -> Result<Quoted, FilterError> {
        let start = self.pos;
        let quote = match self.bump() {
            Some(q @ ('\'' | '"' | '`')) => q,
            _ => return Err(FilterError::at(start, "expected a quote")),
        };
        let mut text = String::new();
        loop {
            match self.bump() {
                None => {
                    let what = if quote == '`' { "name" } else { "string" };
                    return Err(FilterError::at(
                        start,
                        format!("unterminated {what}: missing closing {quote}"),
                    ));
                }
                Some('\\') => match self.peek() {
                    Some(next) if next == quote || next == '\\' => {
                        self.bump();
                        text.push(next);
                    }
                    _ => text.push('\\'),
                },
                Some(c) if c == quote => {
                    if self.peek() == Some(quote) {
                        self.bump();
                        text.push(quote);
                    } else {
                        return Ok(Quoted { quote, text, start });
                    }
                }
                Some(c) => text.push(c),
            }
        }
    }

    /// Reads a number literal and returns its text; `None` (cursor unmoved) when the text at the
    /// cursor is not one.
    pub(crate) fn number(&mut self) -> Option<(&'a str, usize)> {
        let start = self.pos;
        let bytes = self.text.as_bytes();
        let mut end = start;
        if bytes.get(end) == Some(&b'-') {
            end += 1;
        }
        let int_start = end;
        while bytes.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
        let int_digits = end - int_start;
        let mut frac_digits = 0;
        if bytes.get(end) == Some(&b'.') {
            let mut probe = end + 1;
            while bytes.get(probe).is_some_and(u8::is_ascii_digit) {
                probe += 1;
            }
            frac_digits = probe - end - 1;
            if int_digits > 0 || frac_digits > 0 {
                end = probe;
            }
        }
        if int_digits == 0 && frac_digits == 0 {
            return None;
        }
        if matches!(bytes.get(end), Some(b'e' | b'E')) {
            let mut probe = end + 1;
            if matches!(bytes.get(probe), Some(b'+' | b'-')) {
                probe += 1;
            }
            let digits_start = probe;
            while bytes.get(probe).is_some_and(u8::is_ascii_digit) {
                probe += 1;
            }
            if probe > digits_start {
                end = probe;
            }
        }
        self.pos = end;
        Some((&self.text[start..end], start))
    }

    /// A short description of what is at the cursor, for error messages: `'word'`, `'>'`, a
    /// quoted string, or `the end of the text`.
    pub(crate) fn describe_next(&self) -> String {
        match self.peek() {
            None => "the end of the text".to_string(),
            Some(c) if is_name_start(c) => {
                let word: String = self
                    .rest()
                    .chars()
                    .take_while(|c| is_name_char(*c))
                    .take(40)
                    .collect();
                format!("'{word}'")
            }
            Some('\'' | '"') => {
                let shown: String = self.rest().chars().take(20).collect();
                let ellipsis = if self.rest().chars().count() > 20 {
                    "..."
                } else {
                    ""
                };
                format!("the string {shown}{ellipsis}")
            }
            Some(c) => format!("'{c}'"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoted(text: &str) -> Result<String, FilterError> {
        Cursor::new(text).quoted().map(|q| q.text)
    }

    #[test]
    fn quoted_texts_and_escapes() {
        let cases = [
            ("'abc'", "abc"),
            ("\"abc\"", "abc"),
            ("`a b`", "a b"),
            ("''", ""),
            ("'it''s'", "it's"),
            ("'it\\'s'", "it's"),
            ("'a\\\\b'", "a\\b"),
            ("'C:\\data'", "C:\\data"),
            ("\"say \\\"hi\\\"\"", "say \"hi\""),
            ("'é ü'", "é ü"),
            ("`a``b`", "a`b"),
        ];
        for (input, expected) in cases {
            assert_eq!(quoted(input).unwrap(), expected, "{input}");
        }
    }

    #[test]
    fn unterminated_quotes_are_errors_at_the_opening_quote() {
        for input in ["'abc", "'a\\'", "`x", "\"", "'it''"] {
            let err = quoted(input).unwrap_err();
            assert_eq!(err.position(), Some(0), "{input}");
            assert!(err.message().contains("unterminated"), "{input}: {err}");
        }
    }

    #[test]
    fn numbers() {
        let cases = [
            ("1", Some("1")),
            ("-1", Some("-1")),
            ("1.5", Some("1.5")),
            ("1.", Some("1.")),
            (".5", Some(".5")),
            ("-.5e3", Some("-.5e3")),
            ("1e-3", Some("1e-3")),
            ("1E+3", Some("1E+3")),
            ("1e", Some("1")),
            ("12abc", Some("12")),
            ("-", None),
            (".", None),
            ("-x", None),
            ("abc", None),
        ];
        for (input, expected) in cases {
            let mut cursor = Cursor::new(input);
            assert_eq!(cursor.number().map(|(text, _)| text), expected, "{input}");
        }
    }

    #[test]
    fn keywords_need_a_boundary() {
        assert!(Cursor::new("and x").at_keyword("AND"));
        assert!(Cursor::new("AND").at_keyword("AND"));
        assert!(Cursor::new("LIKE'x'").at_keyword("LIKE"));
        assert!(!Cursor::new("ANDx").at_keyword("AND"));
        assert!(!Cursor::new("AN").at_keyword("AND"));
        assert!(!Cursor::new("é").at_keyword("AND"));
        assert!(!Cursor::new("ANé").at_keyword("AND"));
    }

    #[test]
    fn bare_names() {
        let mut cursor = Cursor::new("tags.mlflow.runName = 'x'");
        assert_eq!(cursor.bare_name(), ("tags.mlflow.runName", 0));
        assert!(cursor.skip_whitespace());
        assert_eq!(cursor.peek(), Some('='));
        assert!(is_bare_key("train/loss-1:x"));
        assert!(!is_bare_key("a b"));
        assert!(!is_bare_key(""));
    }
}
