//! `:shortcode:` expansion as MPNS does it with kyokomi/emoji: a known code becomes the emoji
//! and one space, `:flag-xx:` becomes a regional-indicator pair, anything else stays as written.
//! The scanning rules are kyokomi's; the table is GitHub's gemoji (the `emojis` crate), which
//! kyokomi's table is built from.

pub fn expand(text: &str) -> String {
    if !text.contains(':') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == ':' {
            replace_code(&mut chars, &mut out);
        } else {
            out.push(c);
        }
    }
    out
}

/// Called after an opening `:`; consumes up to the closing `:`, whitespace, or the end.
fn replace_code(chars: &mut std::str::Chars<'_>, out: &mut String) {
    let mut code = String::from(":");
    loop {
        let Some(c) = chars.next() else {
            out.push_str(&code);
            return;
        };
        if c == ':' && code.len() == 1 {
            // `::` emits one `:` and the second opens a new code.
            out.push(':');
            return replace_code(chars, out);
        }
        code.push(c);
        if c.is_whitespace() {
            out.push_str(&code);
            return;
        }
        if c == ':' {
            out.push_str(&emojize(&code));
            return;
        }
    }
}

fn emojize(code: &str) -> String {
    let name = &code[1..code.len() - 1];
    if let Some(emoji) = emojis::get_by_shortcode(name) {
        return format!("{} ", emoji.as_str());
    }
    if let Some(cc) = name.strip_prefix("flag-") {
        let b = cc.as_bytes();
        if b.len() == 2 && b.iter().all(u8::is_ascii_lowercase) {
            let indicator = |l: u8| char::from_u32(0x1F1E6 + u32::from(l - b'a')).unwrap_or('?');
            return [indicator(b[0]), indicator(b[1])].iter().collect();
        }
    }
    code.to_string()
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
    }
}
