//! The docs are the code's reference: every `§` the repository cites is a heading of
//! `docs/mpns-contract.md`, so a reader who follows one lands on text that exists.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// Folders that hold no text of ours: build output, fetched packages, generated code.
const SKIPPED: &[&str] = &[
    ".git",
    "target",
    "node_modules",
    "gen",
    ".bin",
    "corpus",
    "artifacts",
];

/// Files whose `§` references are ours to keep.
fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            if !SKIPPED.contains(&name.as_str()) {
                sources(&path, found);
            }
        } else if [
            ".rs", ".go", ".md", ".py", ".js", ".java", ".proto", ".toml", ".yaml", ".json",
        ]
        .iter()
        .any(|ext| name.ends_with(ext))
            || name == "run"
        {
            found.push(path);
        }
    }
}

/// The section numbers cited in `text`: `§5.1`, `§10.2–§10.10` gives both ends.
fn cited(text: &str) -> Vec<String> {
    text.split('§')
        .skip(1)
        .filter_map(|rest| {
            let number: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let number = number.trim_end_matches('.');
            (!number.is_empty()).then(|| number.to_string())
        })
        .collect()
}

/// The sections `docs/mpns-contract.md` has: its `## §N` and `### §N.M` headings.
fn sections(contract: &str) -> BTreeSet<String> {
    contract
        .lines()
        .filter(|l| l.starts_with('#'))
        .flat_map(|l| cited(l).into_iter().take(1))
        .collect()
}

#[test]
fn every_section_reference_resolves() {
    let contract = std::fs::read_to_string(format!("{ROOT}/docs/mpns-contract.md")).unwrap();
    let sections = sections(&contract);
    assert!(sections.contains("5.1") && sections.contains("10.11"));
    let mut files = Vec::new();
    sources(Path::new(ROOT), &mut files);
    let mut dangling = Vec::new();
    let mut checked = 0;
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for (line_no, line) in text.lines().enumerate() {
            for number in cited(line) {
                checked += 1;
                if !sections.contains(&number) {
                    let shown = file.strip_prefix(ROOT).unwrap_or(file).display();
                    dangling.push(format!("{shown}:{}: §{number}", line_no + 1));
                }
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} references found: is the walk right?"
    );
    assert!(
        dangling.is_empty(),
        "references to sections docs/mpns-contract.md does not have:\n{}",
        dangling.join("\n")
    );
}

#[test]
fn references_are_read_as_written() {
    assert_eq!(
        cited("see §5.1, and §10.2–§10.10."),
        ["5.1", "10.2", "10.10"]
    );
    assert_eq!(cited("§ alone, §3."), ["3"]);
    let headings = sections("## §9 Quirks\n### §9.1 The list (§1.3)\ntext §4\n");
    assert_eq!(headings, BTreeSet::from(["9".into(), "9.1".into()]));
}
