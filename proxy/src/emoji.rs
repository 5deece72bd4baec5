//! `:shortcode:` expansion as MPNS does it with kyokomi/emoji v2.2.4: a known code becomes the
//! emoji and one space, `:flag-xx:` a regional-indicator pair, anything else stays as written.
//! The scanning rules are kyokomi's, the table is kyokomi's own (`emoji_table.rs`, generated
//! from the Go module by `tools/emoji-table`). One pass over the text; the only allocation is
//! the output.

use crate::emoji_table::CODES;

pub fn expand(text: &str) -> String {
    let Some(first) = text.find(':') else {
        return text.to_string();
    };
    let mut out = String::with_capacity(text.len() + 16);
    out.push_str(&text[..first]);
    let mut rest = &text[first..];
    // `rest` starts at an opening `:` whenever the loop comes round.
    while !rest.is_empty() {
        rest = expand_one(rest, &mut out);
        // Copy plain text up to the next opener.
        let next = rest.find(':').unwrap_or(rest.len());
        out.push_str(&rest[..next]);
        rest = &rest[next..];
    }
    out
}

/// `text` starts with `:`. Consumes up to the closing `:`, a whitespace character (kept), or
/// the end, writes what it comes to, and returns the rest.
fn expand_one<'a>(text: &'a str, out: &mut String) -> &'a str {
    let body = &text[1..];
    if body.starts_with(':') {
        // `::` writes one `:`, and the second opens a new code.
        out.push(':');
        return body;
    }
    for (at, c) in body.char_indices() {
        let end = 1 + at + c.len_utf8();
        if c.is_whitespace() {
            out.push_str(&text[..end]);
            return &text[end..];
        }
        if c == ':' {
            emojize(&text[..end], out);
            return &text[end..];
        }
    }
    out.push_str(text);
    ""
}

/// `code` is `:name:`.
fn emojize(code: &str, out: &mut String) {
    if let Ok(i) = CODES.binary_search_by(|(c, _)| (*c).cmp(code)) {
        out.push_str(CODES[i].1);
        out.push(' ');
        return;
    }
    let name = &code[1..code.len() - 1];
    if let Some(cc) = name.strip_prefix("flag-") {
        let b = cc.as_bytes();
        if b.len() == 2 && b.iter().all(u8::is_ascii_lowercase) {
            for letter in b {
                out.push(char::from_u32(0x1F1E6 + u32::from(letter - b'a')).unwrap_or('?'));
            }
            return;
        }
    }
    out.push_str(code);
}

#[cfg(test)]
mod tests {
    use super::expand;

    #[test]
    fn kyokomi_rules() {
        assert_eq!(expand("alice: Hello :smile: <b>"), "alice: Hello 😄  <b>");
        assert_eq!(expand("hi :tada:"), "hi 🎉 ");
        assert_eq!(expand(":+1:"), "👍 ");
        assert_eq!(expand("time 12:30 ok"), "time 12:30 ok");
        assert_eq!(expand("a :nope: b"), "a :nope: b");
        assert_eq!(expand("::smile:"), ":😄 ");
        assert_eq!(expand(":flag-us:"), "🇺🇸");
        assert_eq!(expand("end :"), "end :");
        assert_eq!(expand("no codes"), "no codes");
        assert_eq!(expand(":thumbs_up: :red_heart:"), "👍  ❤ ");
    }
}
