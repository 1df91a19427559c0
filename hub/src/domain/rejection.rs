//! Business refusals. Each carries a stable [`RejectionCode`] that user interfaces switch on
//! and the HTTP adapter maps to a status: codes are part of the public protocol (listed in
//! `docs/api.md`, which a test checks), never rename one. Each code has exactly one
//! spelling, written once below.

use std::fmt;

use serde::{Serialize, Serializer};

/// How a refusal should be understood by a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectionKind {
    /// Something referenced does not exist in this venue.
    NotFound,
    /// The command itself is malformed or out of range, whatever the state.
    Invalid,
    /// The command is valid but the current state does not allow it.
    Conflict,
    /// The actor's role may not do this in this situation.
    Forbidden,
}

/// Defines [`RejectionCode`] from one list of `Variant => "spelling"`, so the enum, its
/// spelling and the list of all codes cannot drift apart.
macro_rules! rejection_codes {
    ($($variant:ident => $code:literal,)*) => {
        /// Every code a business refusal can carry, as the wire spells it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum RejectionCode {
            $($variant,)*
        }

        impl RejectionCode {
            /// Every code, in alphabetical order of its spelling.
            pub const ALL: &[RejectionCode] = &[$(RejectionCode::$variant,)*];

            /// The code as clients see it in `{"error": ...}` and WebSocket error frames.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(RejectionCode::$variant => $code,)*
                }
            }
        }
    };
}

rejection_codes! {
    AlertAlreadyAcknowledged => "alert_already_acknowledged",
    AlertAlreadyOpen => "alert_already_open",
    AlertAlreadyRaised => "alert_already_raised",
    AlertAlreadyRecovered => "alert_already_recovered",
    AlertAlreadyResolved => "alert_already_resolved",
    AlertExists => "alert_exists",
    AlertNotFound => "alert_not_found",
    AlreadySetUp => "already_set_up",
    AreaNotFound => "area_not_found",
    BillAlreadyRequested => "bill_already_requested",
    CategoryNotFound => "category_not_found",
    CommandIdReused => "command_id_reused",
    CoolingAlreadyStarted => "cooling_already_started",
    CoolingBatchActive => "cooling_batch_active",
    CoolingBatchExists => "cooling_batch_exists",
    CoolingBatchFinished => "cooling_batch_finished",
    CoolingBatchNotFound => "cooling_batch_not_found",
    CoolingNotStarted => "cooling_not_started",
    CoolingStageAlreadyMet => "cooling_stage_already_met",
    DeviceDisabled => "device_disabled",
    DeviceExists => "device_exists",
    DeviceIdentityFixed => "device_identity_fixed",
    DeviceKeyTaken => "device_key_taken",
    DeviceNotAtTable => "device_not_at_table",
    DeviceNotFound => "device_not_found",
    DuplicateLine => "duplicate_line",
    DuplicateOption => "duplicate_option",
    DuplicateTable => "duplicate_table",
    EmptyText => "empty_text",
    InvalidChoices => "invalid_choices",
    InvalidCourse => "invalid_course",
    InvalidCurrency => "invalid_currency",
    InvalidGeometry => "invalid_geometry",
    InvalidGuests => "invalid_guests",
    InvalidLimits => "invalid_limits",
    InvalidLineTransition => "invalid_line_transition",
    InvalidModifier => "invalid_modifier",
    InvalidPrice => "invalid_price",
    InvalidQuantity => "invalid_quantity",
    InvalidScan => "invalid_scan",
    InvalidSeat => "invalid_seat",
    InvalidSeats => "invalid_seats",
    InvalidSlug => "invalid_slug",
    InvalidTimezone => "invalid_timezone",
    ItemUnavailable => "item_unavailable",
    LineAlreadyVoided => "line_already_voided",
    LineExists => "line_exists",
    LineNotFound => "line_not_found",
    ManagerApprovalRequired => "manager_approval_required",
    MenuItemNotFound => "menu_item_not_found",
    MissingAddress => "missing_address",
    MissingCorrectiveAction => "missing_corrective_action",
    MissingCredentials => "missing_credentials",
    MissingLimits => "missing_limits",
    MissingPurpose => "missing_purpose",
    MissingReason => "missing_reason",
    MissingStation => "missing_station",
    MissingTable => "missing_table",
    ModifierGroupNotFound => "modifier_group_not_found",
    NoDeliveryAlert => "no_delivery_alert",
    NoLines => "no_lines",
    NoOptions => "no_options",
    NoServiceRequest => "no_service_request",
    NoStation => "no_station",
    NoTables => "no_tables",
    NoUsername => "no_username",
    NotACallButton => "not_a_call_button",
    NotAProbe => "not_a_probe",
    NotAScanner => "not_a_scanner",
    NotAtStation => "not_at_station",
    NotForDeviceKind => "not_for_device_kind",
    NothingToBump => "nothing_to_bump",
    NothingToFire => "nothing_to_fire",
    NothingToPickUp => "nothing_to_pick_up",
    NothingToServe => "nothing_to_serve",
    NothingToStart => "nothing_to_start",
    OrderExists => "order_exists",
    OrderHasFiredLines => "order_has_fired_lines",
    OrderHasUnservedLines => "order_has_unserved_lines",
    OrderNotFound => "order_not_found",
    OrderNotOpen => "order_not_open",
    OwnVenue => "own_venue",
    OwnerOnly => "owner_only",
    PinTaken => "pin_taken",
    SameTable => "same_table",
    ScanExists => "scan_exists",
    ServiceAlreadyAcknowledged => "service_already_acknowledged",
    StaffExists => "staff_exists",
    StaffNotFound => "staff_not_found",
    StationKeyTaken => "station_key_taken",
    StationNotFound => "station_not_found",
    TableHasMergedTables => "table_has_merged_tables",
    TableHasOpenOrders => "table_has_open_orders",
    TableInUse => "table_in_use",
    TableLabelTaken => "table_label_taken",
    TableMerged => "table_merged",
    TableNeedsCleaning => "table_needs_cleaning",
    TableNotDirty => "table_not_dirty",
    TableNotFound => "table_not_found",
    TableNotMerged => "table_not_merged",
    TableNotOccupied => "table_not_occupied",
    TableOccupied => "table_occupied",
    TextTooLong => "text_too_long",
    TicketNotFound => "ticket_not_found",
    TicketOnScreen => "ticket_on_screen",
    TooManyCoolingWarnings => "too_many_cooling_warnings",
    TooManyVenues => "too_many_venues",
    UnexpectedTable => "unexpected_table",
    UsernameTaken => "username_taken",
    VenueExists => "venue_exists",
    VenueNotCreated => "venue_not_created",
    VenueNotFound => "venue_not_found",
    VenueSlugTaken => "venue_slug_taken",
    WrongScannerPurpose => "wrong_scanner_purpose",
}

impl RejectionCode {
    /// The code with this spelling, if there is one.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == code)
    }
}

impl fmt::Display for RejectionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RejectionCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl PartialEq<&str> for RejectionCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<RejectionCode> for &str {
    fn eq(&self, other: &RejectionCode) -> bool {
        *self == other.as_str()
    }
}

/// A command the domain refused, with a stable code and a human message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub kind: RejectionKind,
    pub code: RejectionCode,
    pub message: String,
    /// The input field at fault, when one is (e.g. `lines[0].quantity`).
    pub field: Option<String>,
}

impl Rejection {
    pub fn code(&self) -> RejectionCode {
        self.code
    }

    pub fn not_found(code: RejectionCode, what: impl fmt::Display) -> Self {
        Self {
            kind: RejectionKind::NotFound,
            code,
            message: format!("{what} was not found"),
            field: None,
        }
    }

    pub fn invalid(
        code: RejectionCode,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind: RejectionKind::Invalid,
            code,
            message: message.into(),
            field: Some(field.into()),
        }
    }

    pub fn conflict(code: RejectionCode, message: impl Into<String>) -> Self {
        Self {
            kind: RejectionKind::Conflict,
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn forbidden(code: RejectionCode, message: impl Into<String>) -> Self {
        Self {
            kind: RejectionKind::Forbidden,
            code,
            message: message.into(),
            field: None,
        }
    }

    /// Prefixes the field with the position of the input it came from (`lines[2].`).
    pub fn within(mut self, prefix: impl fmt::Display) -> Self {
        self.field = Some(match self.field {
            Some(field) => format!("{prefix}.{field}"),
            None => prefix.to_string(),
        });
        self
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Rejection {}
