//! Barcode decoding into typed scans: EAN-13, EAN-8 and UPC-A with check digits, and GS1
//! element strings (human-readable `(01)...(17)...` or raw with FNC1 = GS separators).
//! Pure text in, [`Scan`] out; what a scan means (receiving, counting, FEFO) is the hub's.
//!
//! Rules kept simple and documented here:
//! - Dates (AI 11, 15, 17) are YYMMDD read as 20YY. `DD = 00` means the last day of the
//!   month for best-before (15) and expiry (17), as GS1 specifies, and the first day of the
//!   month for production (11), the earliest it can have been.
//! - Net weight AIs 3100-3103 become whole grams; 3104/3105 (sub-gram) are refused.
//! - In the parenthesised form a `(` always starts the next AI, so lots and serials
//!   cannot contain `(` there; the raw form has no such limit.
//! - In-store variable-measure EAN-13s (prefix 20-29) decode as plain EAN-13.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::payload::Symbology;

/// FNC1 as scanners transmit it: ASCII group separator.
pub const GS: char = '\u{1d}';

/// Longest lot or serial number (AI 10, 21).
pub const MAX_LOT_CHARS: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanKind {
    Ean13,
    UpcA,
    Ean8,
    Gs1,
}

/// A decoded barcode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scan {
    pub kind: ScanKind,
    /// Always 14 digits (GTIN-14), whatever the symbol carried, so lookups use one key.
    pub gtin: Option<String>,
    /// AI 10.
    pub lot: Option<String>,
    /// AI 17.
    pub expiry: Option<NaiveDate>,
    /// AI 11.
    pub production: Option<NaiveDate>,
    /// AI 15.
    pub best_before: Option<NaiveDate>,
    /// AI 21.
    pub serial: Option<String>,
    /// AI 3100-3103.
    pub net_weight_grams: Option<u64>,
    /// The code exactly as scanned.
    pub raw: String,
}

impl Scan {
    fn new(kind: ScanKind, raw: &str) -> Scan {
        Scan {
            kind,
            gtin: None,
            lot: None,
            expiry: None,
            production: None,
            best_before: None,
            serial: None,
            net_weight_grams: None,
            raw: raw.to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    #[error("the scanned code is empty")]
    Empty,
    #[error("not an EAN/UPC or GS1 code: {code:?}")]
    NotRecognised { code: String },
    #[error("symbology identifier {id:?} is not EAN/UPC or GS1")]
    UnsupportedSymbologyId { id: String },
    #[error("{what} must be digits only, got {value:?}")]
    NotDigits { what: String, value: String },
    #[error("{what} must be {expected} digits, got {found}")]
    WrongLength {
        what: String,
        expected: usize,
        found: usize,
    },
    #[error("check digit of {code} should be {expected}, not {found}")]
    BadCheckDigit {
        code: String,
        expected: u8,
        found: u8,
    },
    #[error("unknown or unsupported application identifier (AI) {ai}")]
    UnknownAi { ai: String },
    #[error("the code ends inside an application identifier: {rest:?}")]
    IncompleteAi { rest: String },
    #[error("AI ({ai}) is empty")]
    EmptyValue { ai: String },
    #[error("AI ({ai}) is {found} characters, at most {max} allowed")]
    TooLong {
        ai: String,
        max: usize,
        found: usize,
    },
    #[error("AI ({ai}) contains {ch:?}, which GS1 does not allow")]
    BadCharacter { ai: String, ch: char },
    #[error("AI ({ai}) {value:?} is not a valid YYMMDD date")]
    BadDate { ai: String, value: String },
    #[error("AI ({ai}) appears twice")]
    DuplicateAi { ai: String },
    #[error("malformed GS1 element string: {message}")]
    Malformed { message: String },
}

/// GS1 check digit (mod 10, weights 3-1 from the right) for `body`, the digits without
/// the check digit. `None` if `body` has a non-digit.
pub fn gtin_check_digit(body: &str) -> Option<u8> {
    let mut sum = 0u32;
    for (i, b) in body.bytes().rev().enumerate() {
        if !b.is_ascii_digit() {
            return None;
        }
        let weight = if i % 2 == 0 { 3 } else { 1 };
        sum += u32::from(b - b'0') * weight;
    }
    // sum % 10 < 10, so the result fits a u8.
    Some(((10 - sum % 10) % 10) as u8)
}

fn verify_digits(what: &str, code: &str, expected_len: usize) -> Result<(), ScanError> {
    if !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ScanError::NotDigits {
            what: what.to_owned(),
            value: code.to_owned(),
        });
    }
    if code.len() != expected_len {
        return Err(ScanError::WrongLength {
            what: what.to_owned(),
            expected: expected_len,
            found: code.chars().count(),
        });
    }
    Ok(())
}

fn verify_check_digit(code: &str) -> Result<(), ScanError> {
    let (body, last) = code.split_at(code.len() - 1);
    let found = last.as_bytes()[0] - b'0';
    let expected = gtin_check_digit(body).unwrap_or(u8::MAX);
    if expected == found {
        Ok(())
    } else {
        Err(ScanError::BadCheckDigit {
            code: code.to_owned(),
            expected,
            found,
        })
    }
}

/// Decode a scanned code. `symbology` is what the scanner reported, if anything; a
/// symbology identifier prefix (`]C1`, `]d2`, `]Q3`, `]e0`, `]E0`, `]E4`) wins over it.
pub fn decode_scan(code: &str, symbology: Option<Symbology>) -> Result<Scan, ScanError> {
    if code.is_empty() {
        return Err(ScanError::Empty);
    }
    if let Some(id) = symbology_id(code) {
        let body = &code[3..];
        return match id {
            "]C1" | "]d2" | "]Q3" | "]e0" => gs1(code, body),
            "]E0" if body.len() == 12 => retail(code, body, ScanKind::UpcA),
            "]E0" => retail(code, body, ScanKind::Ean13),
            "]E4" => retail(code, body, ScanKind::Ean8),
            other => Err(ScanError::UnsupportedSymbologyId {
                id: other.to_owned(),
            }),
        };
    }
    let looks_gs1 = code.starts_with('(') || code.contains(GS);
    match symbology {
        Some(Symbology::Ean13) => retail(code, code, ScanKind::Ean13),
        Some(Symbology::UpcA) => retail(code, code, ScanKind::UpcA),
        Some(Symbology::Ean8) => retail(code, code, ScanKind::Ean8),
        Some(Symbology::Gs1_128 | Symbology::Gs1Datamatrix) => gs1(code, code),
        Some(Symbology::Qr | Symbology::Code128) if looks_gs1 => gs1(code, code),
        Some(Symbology::Qr | Symbology::Code128) => Err(ScanError::NotRecognised {
            code: code.to_owned(),
        }),
        None if looks_gs1 => gs1(code, code),
        None if code.bytes().all(|b| b.is_ascii_digit()) => match code.len() {
            8 => retail(code, code, ScanKind::Ean8),
            12 => retail(code, code, ScanKind::UpcA),
            13 => retail(code, code, ScanKind::Ean13),
            _ => gs1(code, code),
        },
        // A scanner that strips FNC1 and identifiers still sends `01...` element strings.
        None if code.len() >= 2 && code.as_bytes()[..2].iter().all(u8::is_ascii_digit) => {
            gs1(code, code)
        }
        None => Err(ScanError::NotRecognised {
            code: code.to_owned(),
        }),
    }
}

/// `]` + letter + digit at the start (ISO/IEC 15424 symbology identifier).
fn symbology_id(code: &str) -> Option<&str> {
    let id = code.get(..3)?;
    let b = id.as_bytes();
    (b[0] == b']' && b[1].is_ascii_alphabetic() && b[2].is_ascii_digit()).then_some(id)
}

fn retail(raw: &str, digits: &str, kind: ScanKind) -> Result<Scan, ScanError> {
    let (what, len) = match kind {
        ScanKind::Ean13 => ("EAN-13", 13),
        ScanKind::Ean8 => ("EAN-8", 8),
        _ => ("UPC-A", 12),
    };
    // Some scanners send UPC-A in its 13-digit EAN form.
    let digits = match kind {
        ScanKind::UpcA if digits.len() == 13 && digits.starts_with('0') => &digits[1..],
        _ => digits,
    };
    verify_digits(what, digits, len)?;
    verify_check_digit(digits)?;
    let mut scan = Scan::new(kind, raw);
    scan.gtin = Some(format!("{digits:0>14}"));
    Ok(scan)
}

/// What an AI holds and how long it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Gtin,
    Lot,
    Production,
    BestBefore,
    Expiry,
    Serial,
    /// Net weight in kg with this many decimals.
    NetWeight(u32),
}

impl Field {
    fn lookup(ai: &str) -> Option<Field> {
        Some(match ai {
            "01" => Field::Gtin,
            "10" => Field::Lot,
            "11" => Field::Production,
            "15" => Field::BestBefore,
            "17" => Field::Expiry,
            "21" => Field::Serial,
            "3100" => Field::NetWeight(0),
            "3101" => Field::NetWeight(1),
            "3102" => Field::NetWeight(2),
            "3103" => Field::NetWeight(3),
            _ => return None,
        })
    }

    /// `Some(n)` for predefined-length AIs, which need no FNC1 after them.
    fn fixed_len(self) -> Option<usize> {
        match self {
            Field::Gtin => Some(14),
            Field::Production | Field::BestBefore | Field::Expiry | Field::NetWeight(_) => Some(6),
            Field::Lot | Field::Serial => None,
        }
    }
}

/// Number of digits of the AI starting with these two digits (GS1 General Specifications,
/// AI prefix table), so an unknown AI can be named whole.
fn ai_len(prefix: &str) -> usize {
    match prefix {
        "23" | "24" | "25" | "40" | "41" | "42" => 3,
        "31" | "32" | "33" | "34" | "35" | "36" | "39" | "70" | "71" | "72" | "80" | "81"
        | "82" => 4,
        _ => 2,
    }
}

/// Parse either form into (AI, value) pairs, then interpret them.
fn gs1(raw: &str, body: &str) -> Result<Scan, ScanError> {
    let elements = if body.starts_with('(') {
        parse_parenthesised(body)?
    } else {
        parse_raw(body)?
    };
    let mut scan = Scan::new(ScanKind::Gs1, raw);
    let mut seen: Vec<&str> = Vec::new();
    for (ai, field, value) in &elements {
        if seen.contains(ai) {
            return Err(ScanError::DuplicateAi {
                ai: (*ai).to_owned(),
            });
        }
        seen.push(ai);
        apply(&mut scan, ai, *field, value)?;
    }
    Ok(scan)
}

fn parse_parenthesised(body: &str) -> Result<Vec<(&str, Field, &str)>, ScanError> {
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let after_open = rest.strip_prefix('(').ok_or_else(|| ScanError::Malformed {
            message: format!("expected '(' before {rest:?}"),
        })?;
        let close = after_open.find(')').ok_or_else(|| ScanError::Malformed {
            message: "an AI's '(' is never closed".into(),
        })?;
        let ai = &after_open[..close];
        if !(2..=4).contains(&ai.len()) || !ai.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ScanError::Malformed {
                message: format!("({ai}) is not an application identifier"),
            });
        }
        let field = Field::lookup(ai).ok_or_else(|| ScanError::UnknownAi { ai: ai.to_owned() })?;
        let data = &after_open[close + 1..];
        let end = data.find('(').unwrap_or(data.len());
        let value = &data[..end];
        if let Some(n) = field.fixed_len()
            && value.len() != n
        {
            return Err(ScanError::WrongLength {
                what: format!("AI ({ai})"),
                expected: n,
                found: value.chars().count(),
            });
        }
        out.push((ai, field, value));
        rest = &data[end..];
    }
    Ok(out)
}

fn parse_raw(body: &str) -> Result<Vec<(&str, Field, &str)>, ScanError> {
    let mut out = Vec::new();
    // A leading FNC1 marks the symbol as GS1; it separates nothing.
    let mut rest = body.strip_prefix(GS).unwrap_or(body);
    while !rest.is_empty() {
        let prefix = rest
            .get(..2)
            .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| ScanError::IncompleteAi {
                rest: rest.to_owned(),
            })?;
        let ai = rest
            .get(..ai_len(prefix))
            .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| ScanError::IncompleteAi {
                rest: rest.to_owned(),
            })?;
        let field = Field::lookup(ai).ok_or_else(|| ScanError::UnknownAi { ai: ai.to_owned() })?;
        let data = &rest[ai.len()..];
        let (value, after) = match field.fixed_len() {
            Some(n) => {
                let gs_at = data.find(GS).unwrap_or(data.len());
                match data.get(..n) {
                    Some(value) if gs_at >= n => (value, &data[n..]),
                    _ => {
                        return Err(ScanError::WrongLength {
                            what: format!("AI ({ai})"),
                            expected: n,
                            found: data[..gs_at].chars().count(),
                        });
                    }
                }
            }
            None => {
                let end = data.find(GS).unwrap_or(data.len());
                (&data[..end], &data[end..])
            }
        };
        out.push((ai, field, value));
        // FNC1 ends a variable-length field; after a fixed-length one it is tolerated.
        rest = after.strip_prefix(GS).unwrap_or(after);
    }
    Ok(out)
}

fn apply(scan: &mut Scan, ai: &str, field: Field, value: &str) -> Result<(), ScanError> {
    match field {
        Field::Gtin => {
            verify_digits(&format!("AI ({ai})"), value, 14)?;
            verify_check_digit(value)?;
            scan.gtin = Some(value.to_owned());
        }
        Field::Lot => scan.lot = Some(text(ai, value)?),
        Field::Serial => scan.serial = Some(text(ai, value)?),
        Field::Production => scan.production = Some(date(ai, value, false)?),
        Field::BestBefore => scan.best_before = Some(date(ai, value, true)?),
        Field::Expiry => scan.expiry = Some(date(ai, value, true)?),
        Field::NetWeight(decimals) => {
            verify_digits(&format!("AI ({ai})"), value, 6)?;
            let n: u64 = value.parse().map_err(|_| ScanError::NotDigits {
                what: format!("AI ({ai})"),
                value: value.to_owned(),
            })?;
            scan.net_weight_grams = Some(n * 10u64.pow(3 - decimals));
        }
    }
    Ok(())
}

/// GS1 AI encodable character set 82.
fn is_set82(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!\"%&'()*+,-./:;<=>?_".contains(c)
}

fn text(ai: &str, value: &str) -> Result<String, ScanError> {
    let len = value.chars().count();
    if len == 0 {
        return Err(ScanError::EmptyValue { ai: ai.to_owned() });
    }
    if len > MAX_LOT_CHARS {
        return Err(ScanError::TooLong {
            ai: ai.to_owned(),
            max: MAX_LOT_CHARS,
            found: len,
        });
    }
    if let Some(ch) = value.chars().find(|c| !is_set82(*c)) {
        return Err(ScanError::BadCharacter {
            ai: ai.to_owned(),
            ch,
        });
    }
    Ok(value.to_owned())
}

/// YYMMDD as 20YY. `DD = 00`: last day of the month when `zero_is_month_end`, else the first.
fn date(ai: &str, value: &str, zero_is_month_end: bool) -> Result<NaiveDate, ScanError> {
    let bad = || ScanError::BadDate {
        ai: ai.to_owned(),
        value: value.to_owned(),
    };
    if value.len() != 6 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| value[r].parse::<u32>().map_err(|_| bad());
    let (yy, mm, dd) = (num(0..2)?, num(2..4)?, num(4..6)?);
    // yy < 100, so the year fits an i32.
    let year = 2000 + yy as i32;
    let date = match dd {
        0 if zero_is_month_end => {
            let (ny, nm) = if mm == 12 {
                (year + 1, 1)
            } else {
                (year, mm + 1)
            };
            if mm == 0 || mm > 12 {
                None
            } else {
                NaiveDate::from_ymd_opt(ny, nm, 1).and_then(|d| d.pred_opt())
            }
        }
        0 => NaiveDate::from_ymd_opt(year, mm, 1),
        _ => NaiveDate::from_ymd_opt(year, mm, dd),
    };
    date.ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    const HRI: &str = "(01)09501101020917(17)250630(10)LOT-42(3103)001250";

    #[test]
    fn gs1s_example_gtin_09501101020917_has_a_valid_check_digit() {
        assert_eq!(gtin_check_digit("0950110102091"), Some(7));
        let scan = decode_scan("(01)09501101020917", None).unwrap();
        assert_eq!(scan.gtin.as_deref(), Some("09501101020917"));
        assert_eq!(scan.kind, ScanKind::Gs1);
    }

    #[test]
    fn the_parenthesised_form_yields_every_field() {
        let scan = decode_scan(HRI, Some(Symbology::Gs1_128)).unwrap();
        assert_eq!(scan.gtin.as_deref(), Some("09501101020917"));
        assert_eq!(scan.expiry, Some(ymd(2025, 6, 30)));
        assert_eq!(scan.lot.as_deref(), Some("LOT-42"));
        assert_eq!(scan.net_weight_grams, Some(1250));
        assert_eq!(scan.raw, HRI);
    }

    #[test]
    fn the_raw_fnc1_form_equals_the_parenthesised_form() {
        let hri = decode_scan(HRI, None).unwrap();
        for raw in [
            "]C101095011010209171725063010LOT-42\u{1d}3103001250",
            "]d201095011010209171725063010LOT-42\u{1d}3103001250",
            "]Q301095011010209171725063010LOT-42\u{1d}3103001250",
            "\u{1d}01095011010209171725063010LOT-42\u{1d}3103001250",
        ] {
            let scan = decode_scan(raw, None).unwrap();
            assert_eq!(
                Scan {
                    raw: HRI.into(),
                    ..scan
                },
                hri,
                "{raw:?}"
            );
        }
    }

    #[test]
    fn a_lot_at_the_end_needs_no_separator() {
        let scan = decode_scan("]C1010950110102091710LOT-42", None).unwrap();
        assert_eq!(scan.lot.as_deref(), Some("LOT-42"));
    }

    #[test]
    fn a_separator_after_a_fixed_length_field_is_tolerated() {
        let scan = decode_scan("]C10109501101020917\u{1d}17250630", None).unwrap();
        assert_eq!(scan.expiry, Some(ymd(2025, 6, 30)));
    }

    #[test]
    fn a_scanner_that_strips_fnc1_and_identifiers_still_decodes() {
        let scan = decode_scan("01095011010209171725063010LOT-42", None).unwrap();
        assert_eq!(scan.gtin.as_deref(), Some("09501101020917"));
        assert_eq!(scan.lot.as_deref(), Some("LOT-42"));
    }

    #[test]
    fn a_gtin_with_a_wrong_check_digit_is_refused() {
        assert_eq!(
            decode_scan("(01)09501101020918", None),
            Err(ScanError::BadCheckDigit {
                code: "09501101020918".into(),
                expected: 7,
                found: 8
            })
        );
    }

    #[test]
    fn an_expiry_day_of_00_means_the_last_day_of_the_month() {
        let feb = decode_scan("(17)250200", None).unwrap();
        assert_eq!(feb.expiry, Some(ymd(2025, 2, 28)));
        let leap = decode_scan("(17)240200", None).unwrap();
        assert_eq!(leap.expiry, Some(ymd(2024, 2, 29)));
        let dec = decode_scan("(15)261200", None).unwrap();
        assert_eq!(dec.best_before, Some(ymd(2026, 12, 31)));
    }

    #[test]
    fn a_production_day_of_00_means_the_first_of_the_month() {
        let scan = decode_scan("(11)250300", None).unwrap();
        assert_eq!(scan.production, Some(ymd(2025, 3, 1)));
    }

    #[test]
    fn an_impossible_date_is_refused() {
        assert!(matches!(
            decode_scan("(17)251332", None),
            Err(ScanError::BadDate { .. })
        ));
        assert!(matches!(
            decode_scan("(17)250231", None),
            Err(ScanError::BadDate { .. })
        ));
        assert!(matches!(
            decode_scan("(17)251300", None),
            Err(ScanError::BadDate { .. })
        ));
    }

    #[test]
    fn net_weight_decimals_become_whole_grams() {
        let grams = |code: &str| decode_scan(code, None).unwrap().net_weight_grams;
        assert_eq!(grams("(3103)001250"), Some(1250));
        assert_eq!(grams("(3102)000125"), Some(1250));
        assert_eq!(grams("(3101)000025"), Some(2500));
        assert_eq!(grams("(3100)000002"), Some(2000));
    }

    #[test]
    fn serial_and_best_before_are_read() {
        let scan = decode_scan("(01)09501101020917(15)251231(21)SN/0042", None).unwrap();
        assert_eq!(scan.best_before, Some(ymd(2025, 12, 31)));
        assert_eq!(scan.serial.as_deref(), Some("SN/0042"));
    }

    #[test]
    fn an_unknown_ai_is_named_in_the_error() {
        assert_eq!(
            decode_scan("(01)09501101020917(400)PO-1", None),
            Err(ScanError::UnknownAi { ai: "400".into() })
        );
        assert_eq!(
            decode_scan("]C10109501101020917400PO-1", None),
            Err(ScanError::UnknownAi { ai: "400".into() })
        );
        assert_eq!(
            decode_scan("(3105)001250", None),
            Err(ScanError::UnknownAi { ai: "3105".into() })
        );
    }

    #[test]
    fn a_truncated_fixed_length_field_is_refused() {
        assert!(matches!(
            decode_scan("(17)2506", None),
            Err(ScanError::WrongLength {
                expected: 6,
                found: 4,
                ..
            })
        ));
        assert!(matches!(
            decode_scan("]C1010950110102", None),
            Err(ScanError::WrongLength {
                expected: 14,
                found: 10,
                ..
            })
        ));
        assert!(matches!(
            decode_scan("]C1172506\u{1d}10LOT", None),
            Err(ScanError::WrongLength {
                expected: 6,
                found: 4,
                ..
            })
        ));
    }

    #[test]
    fn a_lot_longer_than_20_characters_is_refused() {
        assert!(matches!(
            decode_scan("(10)ABCDEFGHIJKLMNOPQRSTU", None),
            Err(ScanError::TooLong {
                max: 20,
                found: 21,
                ..
            })
        ));
        assert!(matches!(
            decode_scan("(10)(17)250630", None),
            Err(ScanError::EmptyValue { .. })
        ));
    }

    #[test]
    fn a_lot_with_a_space_is_refused() {
        assert_eq!(
            decode_scan("(10)LOT 42", None),
            Err(ScanError::BadCharacter {
                ai: "10".into(),
                ch: ' '
            })
        );
    }

    #[test]
    fn the_same_ai_twice_is_refused() {
        assert_eq!(
            decode_scan("(10)A(10)B", None),
            Err(ScanError::DuplicateAi { ai: "10".into() })
        );
    }

    #[test]
    fn a_dangling_ai_is_refused() {
        assert!(matches!(
            decode_scan("]C1010950110102091717250630\u{1d}3", None),
            Err(ScanError::IncompleteAi { .. })
        ));
        assert!(matches!(
            decode_scan("(01", None),
            Err(ScanError::Malformed { .. })
        ));
    }

    #[test]
    fn an_ean13_decodes_to_a_14_digit_gtin() {
        let scan = decode_scan("4006381333931", Some(Symbology::Ean13)).unwrap();
        assert_eq!(scan.kind, ScanKind::Ean13);
        assert_eq!(scan.gtin.as_deref(), Some("04006381333931"));
        assert_eq!(decode_scan("4006381333931", None).unwrap(), scan);
    }

    #[test]
    fn an_ean13_with_a_wrong_check_digit_is_refused() {
        assert!(matches!(
            decode_scan("4006381333932", None),
            Err(ScanError::BadCheckDigit {
                expected: 1,
                found: 2,
                ..
            })
        ));
    }

    #[test]
    fn a_upc_a_is_normalised_to_a_14_digit_gtin() {
        let scan = decode_scan("036000291452", None).unwrap();
        assert_eq!(scan.kind, ScanKind::UpcA);
        assert_eq!(scan.gtin.as_deref(), Some("00036000291452"));
        let ean_form = decode_scan("0036000291452", Some(Symbology::UpcA)).unwrap();
        assert_eq!(ean_form.gtin, scan.gtin);
        let with_id = decode_scan("]E0036000291452", None).unwrap();
        assert_eq!(with_id.kind, ScanKind::UpcA);
    }

    #[test]
    fn an_ean8_decodes_and_checks() {
        let scan = decode_scan("73513537", None).unwrap();
        assert_eq!(scan.kind, ScanKind::Ean8);
        assert_eq!(scan.gtin.as_deref(), Some("00000073513537"));
        assert!(decode_scan("73513538", None).is_err());
        assert_eq!(
            decode_scan("]E473513537", None).unwrap().kind,
            ScanKind::Ean8
        );
    }

    #[test]
    fn the_reported_symbology_fixes_the_expected_length() {
        assert_eq!(
            decode_scan("036000291452", Some(Symbology::Ean13)),
            Err(ScanError::WrongLength {
                what: "EAN-13".into(),
                expected: 13,
                found: 12
            })
        );
        assert!(matches!(
            decode_scan("4006381333931X", Some(Symbology::Ean13)),
            Err(ScanError::NotDigits { .. })
        ));
    }

    #[test]
    fn a_plain_qr_code_is_not_a_product_code() {
        assert!(matches!(
            decode_scan("https://example.com/t/12", Some(Symbology::Qr)),
            Err(ScanError::NotRecognised { .. })
        ));
        assert!(matches!(
            decode_scan("TABLE-12", None),
            Err(ScanError::NotRecognised { .. })
        ));
        assert!(matches!(
            decode_scan("]Q1hello", None),
            Err(ScanError::UnsupportedSymbologyId { .. })
        ));
        assert_eq!(decode_scan("", None), Err(ScanError::Empty));
    }

    #[test]
    fn non_ascii_input_never_panics() {
        assert!(decode_scan("]C101é", None).is_err());
        assert!(decode_scan("(17)2506é", None).is_err());
        assert!(decode_scan("é", None).is_err());
        assert!(decode_scan("]é", None).is_err());
    }

    #[test]
    fn a_scan_serialises_with_iso_dates() {
        let scan = decode_scan(HRI, None).unwrap();
        let json = serde_json::to_value(&scan).unwrap();
        assert_eq!(json["expiry"], "2025-06-30");
        assert_eq!(json["kind"], "gs1");
    }
}
