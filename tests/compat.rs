//! Keeps COMPAT.md true: every test it cites exists, and its summary line
//! counts its rows.

use std::collections::BTreeMap;
use std::fs;

const STATUSES: [&str; 4] = ["done", "partial", "n/a", "not yet"];

fn compat() -> String {
    fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/COMPAT.md")).expect("COMPAT.md")
}

/// The status of a table row: the first cell after the first that starts
/// with a status word.
fn row_status(line: &str) -> Option<&'static str> {
    let cells: Vec<&str> = line.trim().trim_matches('|').split(" | ").collect();
    cells
        .iter()
        .skip(1)
        .find_map(|cell| STATUSES.into_iter().find(|s| cell.trim().starts_with(s)))
}

#[test]
fn every_cited_test_exists() {
    let text = compat();
    let mut missing = Vec::new();
    let mut cited = 0;
    for (i, _) in text.match_indices("tests/") {
        let rest = &text[i..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || "_/.:".contains(c)))
            .unwrap_or(rest.len());
        let Some((file, name)) = rest[..end].split_once("::") else {
            continue;
        };
        cited += 1;
        let path = format!("{}/{file}", env!("CARGO_MANIFEST_DIR"));
        let source = fs::read_to_string(&path).unwrap_or_default();
        if !source.contains(&format!("fn {name}(")) {
            missing.push(format!("{file}::{name}"));
        }
    }
    assert!(cited > 50, "COMPAT.md cites only {cited} tests");
    assert!(
        missing.is_empty(),
        "COMPAT.md cites tests that do not exist: {missing:#?}"
    );
}

/// The summary line `**N done, ...** (rows of <what>).` for the status
/// rows of `text`.
fn summary(text: &str, what: &str) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with('|')) {
        if let Some(status) = row_status(line) {
            *counts.entry(status).or_default() += 1;
        }
    }
    let n = |s: &str| counts.get(s).copied().unwrap_or(0);
    format!(
        "**{} done, {} partial, {} not applicable, {} not yet** (rows of {what}).",
        n("done"),
        n("partial"),
        n("n/a"),
        n("not yet")
    )
}

#[test]
fn summary_counts_the_rows() {
    let text = compat();
    let start = text.find("## 1. Module functions").expect("section 1");
    let end = text.find("## Behaviour cases").expect("behaviour index");
    let expected = summary(&text[start..end], "sections 1–9, 11 and 12");
    assert!(
        text.contains(&expected),
        "COMPAT.md's summary line should read:\n{expected}"
    );
}

#[test]
fn seed_summary_counts_the_rows() {
    let text = compat();
    let start = text.find("## 10. ").expect("section 10");
    let expected = summary(&text[start..], "section 10");
    assert!(
        text[start..].contains(&expected),
        "section 10's summary line should read:\n{expected}"
    );
}
