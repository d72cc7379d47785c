//! `--on-change-run 'CMD ARG...'`: one string split into words by the POSIX
//! shell's quoting rules (single quotes, double quotes, backslash), with no
//! expansion, since the words are run without a shell. What a shell would
//! have done more (`$VAR`, `|`, `&&`, `>`) is refused rather than passed on
//! as a literal argument that surprises.

use std::fmt;

/// Why a string is not a command line.
#[derive(Debug, PartialEq, Eq)]
pub enum Error {
    /// Only blanks.
    Empty,
    /// A quote opened at this byte offset is never closed.
    Unterminated(char, usize),
    /// An unquoted character only a shell gives a meaning to.
    NeedsShell(char),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Empty => f.write_str("is empty"),
            Error::Unterminated(quote, at) => write!(f, "has a {quote} at offset {at} that is never closed"),
            Error::NeedsShell(c) => write!(
                f,
                "has an unquoted {c:?}, which only a shell understands; it runs without one: \
                 quote it, or run sh -c '...'"
            ),
        }
    }
}

/// Splits `line` into words.
pub fn split(line: &str) -> Result<Vec<String>, Error> {
    let mut words = Vec::new();
    // The word being built; `None` between words (so that '' is a word).
    let mut word: Option<String> = None;
    let mut chars = line.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => words.extend(word.take()),
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some((_, '\'')) => break,
                        Some((_, c)) => w.push(c),
                        None => return Err(Error::Unterminated('\'', at)),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some((_, '"')) => break,
                        Some((_, '\\')) => match chars.next() {
                            Some((_, '\n')) => {}
                            Some((_, c @ ('$' | '`' | '"' | '\\'))) => w.push(c),
                            Some((_, c)) => w.extend(['\\', c]),
                            None => return Err(Error::Unterminated('"', at)),
                        },
                        Some((_, c @ ('$' | '`'))) => return Err(Error::NeedsShell(c)),
                        Some((_, c)) => w.push(c),
                        None => return Err(Error::Unterminated('"', at)),
                    }
                }
            }
            '\\' => match chars.next() {
                Some((_, '\n')) => {}
                Some((_, c)) => word.get_or_insert_with(String::new).push(c),
                None => word.get_or_insert_with(String::new).push('\\'),
            },
            '$' | '`' | '|' | '&' | ';' | '<' | '>' | '(' | ')' => return Err(Error::NeedsShell(c)),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    if words.is_empty() {
        return Err(Error::Empty);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Vec<String> {
        split(line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }

    #[test]
    fn words_as_a_shell_splits_them() {
        assert_eq!(ok("nginx -s reload"), ["nginx", "-s", "reload"]);
        assert_eq!(ok("  a \t b\n c  "), ["a", "b", "c"]);
        assert_eq!(ok("echo 'two words' \"and more\""), ["echo", "two words", "and more"]);
        assert_eq!(ok("a'b'\"c\"d"), ["abcd"]);
        assert_eq!(ok("'' x \"\""), ["", "x", ""]);
        assert_eq!(ok(r"a\ b c\\d"), ["a b", r"c\d"]);
        assert_eq!(ok(r#""a\"b\\c\$d\e""#), [r#"a"b\c$d\e"#]);
        assert_eq!(ok("'$HOME | &'"), ["$HOME | &"]);
        assert_eq!(ok("a\\\nb"), ["ab"]);
        assert_eq!(ok("kill -HUP 1 *.conf"), ["kill", "-HUP", "1", "*.conf"]);
    }

    #[test]
    fn what_needs_a_shell_or_is_incomplete_is_refused() {
        assert_eq!(split(""), Err(Error::Empty));
        assert_eq!(split(" \t "), Err(Error::Empty));
        assert_eq!(split("echo 'abc"), Err(Error::Unterminated('\'', 5)));
        assert_eq!(split("echo \"abc"), Err(Error::Unterminated('"', 5)));
        assert_eq!(split("echo $HOME"), Err(Error::NeedsShell('$')));
        assert_eq!(split("echo \"$HOME\""), Err(Error::NeedsShell('$')));
        assert_eq!(split("a && b"), Err(Error::NeedsShell('&')));
        assert_eq!(split("a | b"), Err(Error::NeedsShell('|')));
        assert_eq!(split("a > f"), Err(Error::NeedsShell('>')));
        assert_eq!(split("a; b"), Err(Error::NeedsShell(';')));
        assert_eq!(split("a `b`"), Err(Error::NeedsShell('`')));
        assert!(split("a; b").unwrap_err().to_string().contains("sh -c"));
    }
}
