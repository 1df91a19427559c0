//! The codes of the WebSocket `error` frames the hub itself refuses with, one spelling each.
//! Screens switch on them, so they are protocol words: `docs/websocket.md` lists every one
//! (a test below holds it to that). Domain rejections of a screen command pass through with
//! their own stable codes (`Rejection::code`), listed in `docs/api.md`.

/// Why the hub refused a client frame, a subscription or a screen command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The frame is not JSON.
    InvalidJson,
    /// Unknown `type`, a missing or unknown field, a wrong type.
    InvalidFrame,
    /// A binary frame.
    BinaryNotSupported,
    /// `hello` after the first frame.
    AlreadyAuthenticated,
    /// `subscribe` to a name the hub does not know.
    UnknownChannel,
    /// `subscribe` to a channel the role may not open.
    ForbiddenChannel,
    /// A `kds:<key>` channel or a command names an unknown station.
    StationNotFound,
    /// `order:<id>` for an order the hub does not hold.
    OrderNotFound,
    /// `staff:<id>` for someone not on this venue's staff.
    StaffNotFound,
    /// `seen` with a `seq` above the venue's newest.
    SeenAhead,
    /// Too many frames or commands.
    RateLimited,
    /// The role may not run this command.
    Forbidden,
    /// `recall_last` at a station that bumped nothing.
    NothingToRecall,
    /// Nothing changed; retry with the same id.
    Unavailable,
}

impl ErrorCode {
    /// Every code, for the documentation test.
    pub const ALL: [ErrorCode; 14] = [
        ErrorCode::InvalidJson,
        ErrorCode::InvalidFrame,
        ErrorCode::BinaryNotSupported,
        ErrorCode::AlreadyAuthenticated,
        ErrorCode::UnknownChannel,
        ErrorCode::ForbiddenChannel,
        ErrorCode::StationNotFound,
        ErrorCode::OrderNotFound,
        ErrorCode::StaffNotFound,
        ErrorCode::SeenAhead,
        ErrorCode::RateLimited,
        ErrorCode::Forbidden,
        ErrorCode::NothingToRecall,
        ErrorCode::Unavailable,
    ];

    /// The code as it appears in `error` frames.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidFrame => "invalid_frame",
            ErrorCode::BinaryNotSupported => "binary_not_supported",
            ErrorCode::AlreadyAuthenticated => "already_authenticated",
            ErrorCode::UnknownChannel => "unknown_channel",
            ErrorCode::ForbiddenChannel => "forbidden_channel",
            ErrorCode::StationNotFound => "station_not_found",
            ErrorCode::OrderNotFound => "order_not_found",
            ErrorCode::StaffNotFound => "staff_not_found",
            ErrorCode::SeenAhead => "seen_ahead",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NothingToRecall => "nothing_to_recall",
            ErrorCode::Unavailable => "unavailable",
        }
    }
}

/// A refusal's code: the hub's own, or a domain rejection's passed through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Hub(ErrorCode),
    Rejected(&'static str),
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Hub(code) => code.as_str(),
            Refusal::Rejected(code) => code,
        }
    }
}

impl From<ErrorCode> for Refusal {
    fn from(code: ErrorCode) -> Self {
        Refusal::Hub(code)
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn the_websocket_docs_list_every_error_code() {
        let docs = include_str!("../../../docs/websocket.md");
        let missing: Vec<&str> = ErrorCode::ALL
            .iter()
            .map(|code| code.as_str())
            .filter(|code| !docs.contains(&format!("`{code}`")))
            .collect();
        assert!(missing.is_empty(), "docs/websocket.md misses {missing:?}");
    }

    #[test]
    fn every_error_code_has_its_own_spelling() {
        let mut spellings: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        spellings.sort_unstable();
        spellings.dedup();
        assert_eq!(spellings.len(), ErrorCode::ALL.len());
    }
}
