//! Every alias of kyokomi/emoji v2.2.4 and the edge cases of its scanner, expanded by pushgate
//! exactly as kyokomi's own `emoji.Sprint` expanded them (`emoji_cases.json`, written by
//! `tools/emoji-table` from the Go module).

#[test]
fn every_alias_expands_as_mpns_expands_it() {
    let cases: Vec<(String, String)> =
        serde_json::from_str(include_str!("emoji_cases.json")).expect("the generated cases");
    assert!(cases.len() > 4_600, "{} cases", cases.len());
    let wrong: Vec<_> = cases
        .iter()
        .filter(|(input, expected)| pushgate_proxy::expand_emoji(input) != *expected)
        .take(10)
        .collect();
    assert!(wrong.is_empty(), "differ from kyokomi: {wrong:?}");
}
