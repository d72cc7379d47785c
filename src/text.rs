//! Text that someone else chose (a server's answer, a secret's content
//! type, a name in a listing), made safe to print in a terminal or a log.

/// Text a server sent, made safe to print: at most 2,000 characters (the
/// rest counted, not shown), line breaks of any kind as `\n` (the report
/// indents them), and every other control, format or direction character
/// blanked, so that no server can move the cursor, colour a terminal,
/// reorder a line or start a line of its own.
pub fn printable(text: &str) -> String {
    capped(text, 2000)
}

/// As `printable`, at most `limit` characters.
fn capped(text: &str, limit: usize) -> String {
    let mut out = String::with_capacity(text.len().min(limit));
    let mut chars = text.chars();
    for c in chars.by_ref().take(limit) {
        out.push(match c {
            '\r' | '\n' | '\u{2028}' | '\u{2029}' | '\u{85}' => '\n',
            c if c.is_control() || is_invisible(c) => ' ',
            c => c,
        });
    }
    let rest = chars.count();
    if rest > 0 {
        out.push_str(&format!("... ({rest} more characters)"));
    }
    out
}

/// As `printable`, on one line: for codes and names.
pub fn printable_line(text: &str) -> String {
    printable(text).replace('\n', " ")
}

/// As `printable_line`, at most `limit` characters, and no white space of
/// any kind (U+3000 reads as a space too), so that
/// it stays one `key=value` field: for what someone set on a secret (its
/// content type).
pub fn field(text: &str, limit: usize) -> String {
    capped(text, limit).chars().map(|c| if c.is_whitespace() { '_' } else { c }).collect()
}

/// Zero-width, bidirectional and other format characters (Unicode Cf).
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{ad}' | '\u{61c}' | '\u{180e}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{206f}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_text_cannot_take_over_a_terminal_or_a_log() {
        let hostile = "denied\r\nkvinit: error: fake\x1b[31mred\u{202e}txet\u{2028}next\u{200b}";
        assert_eq!(printable(hostile), "denied\n\nkvinit: error: fake [31mred txet\nnext ");
        assert_eq!(printable_line("a\r\nb"), "a  b");
        assert_eq!(
            field("text/plain\nenv:FORGED secret=x\x1b]0;t\x07", 100),
            "text/plain_env:FORGED_secret=x_]0;t_"
        );
        assert_eq!(field(&"y".repeat(300), 255).len(), 255 + "... (45 more characters)".len());
        assert_eq!(field("text/plain\u{2003}version=x\u{3000}vault=y", 100), "text/plain_version=x_vault=y");
        let long = "x".repeat(2005);
        assert!(printable(&long).ends_with("... (5 more characters)"));
    }
}
