//! Protocol words the domain owns, checked against what clients read: every rejection code
//! has one spelling and is listed in `docs/api.md`.

use std::collections::BTreeSet;

use super::*;

/// The API document clients code against.
const API_DOC: &str = include_str!("../../../../docs/api.md");

/// The codes in the document's "Rejection codes" table (rows of the form "| `code` | ...").
fn documented_rejection_codes() -> BTreeSet<&'static str> {
    let table = API_DOC
        .split_once("### Rejection codes")
        .map(|(_, rest)| rest.split_once("\n## ").map_or(rest, |(table, _)| table))
        .unwrap_or_default();
    table
        .lines()
        .filter_map(|row| row.strip_prefix("| `"))
        .filter_map(|row| row.split_once('`').map(|(code, _)| code))
        .collect()
}

#[test]
fn every_rejection_code_is_listed_in_the_api_document() {
    let documented = documented_rejection_codes();
    assert!(
        documented.len() > 100,
        "the rejection code table was not found in docs/api.md"
    );
    let missing: Vec<&str> = RejectionCode::ALL
        .iter()
        .map(|code| code.as_str())
        .filter(|code| !documented.contains(code))
        .collect();
    assert!(missing.is_empty(), "docs/api.md does not list {missing:?}");
}

#[test]
fn every_rejection_code_has_one_spelling_that_reads_back() {
    let spellings: BTreeSet<&str> = RejectionCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(
        spellings.len(),
        RejectionCode::ALL.len(),
        "two codes share a spelling"
    );
    for code in RejectionCode::ALL {
        assert_eq!(RejectionCode::parse(code.as_str()), Some(*code));
        assert_eq!(
            serde_json::to_value(code).ok(),
            Some(serde_json::Value::from(code.as_str())),
            "{code:?} serialises as its spelling"
        );
        let spelling = code.as_str();
        assert!(
            !spelling.is_empty()
                && spelling
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{spelling:?} is snake_case"
        );
    }
    assert_eq!(RejectionCode::parse("not_a_scanner_command"), None);
}
