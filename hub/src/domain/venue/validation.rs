//! Field rules every concept shares: required text, slugs, guest counts and course numbers,
//! with the limits the API document states. Pure functions of one value; nothing here reads
//! the venue's state (rules that do live with their concept).

use crate::domain::rejection::Rejection;

pub(super) const MAX_GUESTS: u16 = 200;
pub(super) const MAX_QUANTITY: u16 = 999;
pub(super) const MAX_COURSE: u8 = 9;
pub(super) const MAX_NAME: usize = 120;
pub(super) const MAX_NOTE: usize = 500;

/// White space as the API document's patterns count it (`\s` of the ECMAScript regular
/// expressions JSON Schema uses): Unicode white space except U+0085, plus U+FEFF. The hub
/// holds text to the same rule its document states.
pub fn is_space(c: char) -> bool {
    c == '\u{feff}' || (c.is_whitespace() && c != '\u{85}')
}

/// A text with only [white space](is_space), or nothing.
pub fn is_blank(text: &str) -> bool {
    text.chars().all(is_space)
}

/// A text without the [white space](is_space) around it.
pub fn trim_text(text: &str) -> &str {
    text.trim_matches(is_space)
}

/// A required text: not [blank](is_blank), and at most `max` characters as sent (spaces
/// around it count too: the limit a client reads in the API document is the length of the
/// string it sends).
pub(super) fn validate_text(field: &str, value: &str, max: usize) -> Result<(), Rejection> {
    if is_blank(value) {
        return Err(Rejection::invalid(
            "empty_text",
            field,
            format!("{field} cannot be empty"),
        ));
    }
    if value.chars().count() > max {
        return Err(Rejection::invalid(
            "text_too_long",
            field,
            format!("{field} is longer than {max} characters"),
        ));
    }
    Ok(())
}

pub(super) fn validate_slug(field: &str, value: &str) -> Result<(), Rejection> {
    let ok = !value.is_empty()
        && value.len() <= 40
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Rejection::invalid(
            "invalid_slug",
            field,
            format!("{field} must be 1-40 lowercase letters, digits, '-' or '_'"),
        ))
    }
}

pub(super) fn validate_guests(field: &str, guests: u16) -> Result<(), Rejection> {
    if (1..=MAX_GUESTS).contains(&guests) {
        Ok(())
    } else {
        Err(Rejection::invalid(
            "invalid_guests",
            field,
            format!("guests must be between 1 and {MAX_GUESTS}"),
        ))
    }
}

pub(super) fn validate_course(field: &str, course: u8) -> Result<(), Rejection> {
    if (1..=MAX_COURSE).contains(&course) {
        Ok(())
    } else {
        Err(Rejection::invalid(
            "invalid_course",
            field,
            format!("courses are numbered 1 to {MAX_COURSE}"),
        ))
    }
}
