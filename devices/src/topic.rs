//! The MQTT 3.1.1 topic scheme: the one place that builds and parses device topics and the
//! hub's subscription filters. It knows nothing about payloads and does no I/O.
//!
//! ```text
//! almahira/v1/{venue}/{device}/telemetry   uplink    readings
//! almahira/v1/{venue}/{device}/event       uplink    key presses, scans, button presses
//! almahira/v1/{venue}/{device}/status      uplink    online/offline, retained, last will
//! almahira/v1/{venue}/{device}/cmd         downlink  LEDs, acknowledgements, configuration
//! almahira/v1/{venue}/{device}/error       downlink  the hub's answer to a bad message
//! ```

use std::fmt;
use std::str::FromStr;

/// First topic level of every topic this crate speaks.
pub const PREFIX: &str = "almahira";
/// Second topic level: the version of the topic scheme and payload contract.
pub const VERSION: &str = "v1";
/// Venue slugs follow the hub's rule: 1-40 lowercase letters, digits, `-`, `_`.
pub const MAX_VENUE_LEN: usize = 40;
/// Device ids: 1-64 lowercase letters, digits, `-`, `_`.
pub const MAX_DEVICE_LEN: usize = 64;
/// Shared-subscription group the hub instances join on an external broker.
pub const HUB_SHARE_GROUP: &str = "hub";

/// Who publishes on a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Device -> hub.
    Uplink,
    /// Hub -> device.
    Downlink,
}

/// The last topic level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TopicKind {
    Telemetry,
    Event,
    Status,
    Cmd,
    Error,
}

impl TopicKind {
    /// Every kind, uplink first.
    pub const ALL: [TopicKind; 5] = [
        TopicKind::Telemetry,
        TopicKind::Event,
        TopicKind::Status,
        TopicKind::Cmd,
        TopicKind::Error,
    ];
    /// The kinds the hub subscribes to.
    pub const UPLINK: [TopicKind; 3] = [TopicKind::Telemetry, TopicKind::Event, TopicKind::Status];
    /// The kinds a device subscribes to (its own topics only).
    pub const DOWNLINK: [TopicKind; 2] = [TopicKind::Cmd, TopicKind::Error];

    /// The topic level as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            TopicKind::Telemetry => "telemetry",
            TopicKind::Event => "event",
            TopicKind::Status => "status",
            TopicKind::Cmd => "cmd",
            TopicKind::Error => "error",
        }
    }

    pub fn direction(self) -> Direction {
        match self {
            TopicKind::Telemetry | TopicKind::Event | TopicKind::Status => Direction::Uplink,
            TopicKind::Cmd | TopicKind::Error => Direction::Downlink,
        }
    }

    pub fn is_uplink(self) -> bool {
        self.direction() == Direction::Uplink
    }

    fn from_level(level: &str) -> Option<TopicKind> {
        TopicKind::ALL.into_iter().find(|k| k.as_str() == level)
    }
}

impl fmt::Display for TopicKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A concrete device topic. Build one with [`Topic::new`] (validated) or [`Topic::parse`];
/// the variants are public for matching, and `Display` writes whatever they hold.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Topic {
    Telemetry { venue: String, device: String },
    Event { venue: String, device: String },
    Status { venue: String, device: String },
    Cmd { venue: String, device: String },
    Error { venue: String, device: String },
}

/// Why a string is not one of our topics. Each cause is its own variant so the bridge can
/// log precisely what a misconfigured device published to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopicError {
    #[error("the topic is empty")]
    Empty,
    #[error("topic {topic:?} contains a wildcard ('+' or '#'); publish to a concrete topic")]
    Wildcard { topic: String },
    #[error("topic must start with {PREFIX:?}, found {found:?}")]
    WrongPrefix { found: String },
    #[error("unsupported topic version {found:?}, this contract speaks {VERSION:?}")]
    WrongVersion { found: String },
    #[error("bad venue segment {found:?}: 1-{MAX_VENUE_LEN} lowercase letters, digits, '-' or '_'")]
    BadVenue { found: String },
    #[error(
        "bad device segment {found:?}: 1-{MAX_DEVICE_LEN} lowercase letters, digits, '-' or '_'"
    )]
    BadDevice { found: String },
    #[error("unknown topic kind {found:?}, expected telemetry, event, status, cmd or error")]
    UnknownKind { found: String },
    #[error("topic has {levels} levels, expected 5: almahira/v1/<venue>/<device>/<kind>")]
    MissingLevels { levels: usize },
    #[error("topic has {levels} levels, expected 5: almahira/v1/<venue>/<device>/<kind>")]
    ExtraLevels { levels: usize },
}

fn valid_segment(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// True when `venue` is a valid venue slug.
pub fn is_valid_venue(venue: &str) -> bool {
    valid_segment(venue, MAX_VENUE_LEN)
}

/// True when `device` is a valid device id.
pub fn is_valid_device(device: &str) -> bool {
    valid_segment(device, MAX_DEVICE_LEN)
}

impl Topic {
    /// A validated topic of `kind` for one device.
    pub fn new(
        kind: TopicKind,
        venue: impl Into<String>,
        device: impl Into<String>,
    ) -> Result<Topic, TopicError> {
        let (venue, device) = (venue.into(), device.into());
        if !is_valid_venue(&venue) {
            return Err(TopicError::BadVenue { found: venue });
        }
        if !is_valid_device(&device) {
            return Err(TopicError::BadDevice { found: device });
        }
        Ok(Topic::from_parts(kind, venue, device))
    }

    pub(crate) fn from_parts(kind: TopicKind, venue: String, device: String) -> Topic {
        match kind {
            TopicKind::Telemetry => Topic::Telemetry { venue, device },
            TopicKind::Event => Topic::Event { venue, device },
            TopicKind::Status => Topic::Status { venue, device },
            TopicKind::Cmd => Topic::Cmd { venue, device },
            TopicKind::Error => Topic::Error { venue, device },
        }
    }

    /// Strict parse: exactly `almahira/v1/<venue>/<device>/<kind>`, no wildcards.
    pub fn parse(topic: &str) -> Result<Topic, TopicError> {
        if topic.is_empty() {
            return Err(TopicError::Empty);
        }
        if topic.contains(['+', '#']) {
            return Err(TopicError::Wildcard {
                topic: topic.to_owned(),
            });
        }
        let levels: Vec<&str> = topic.split('/').collect();
        if levels[0] != PREFIX {
            return Err(TopicError::WrongPrefix {
                found: levels[0].to_owned(),
            });
        }
        match levels.get(1) {
            Some(&VERSION) => {}
            Some(other) => {
                return Err(TopicError::WrongVersion {
                    found: (*other).to_owned(),
                });
            }
            None => return Err(TopicError::MissingLevels { levels: 1 }),
        }
        let [_, _, venue, device, kind] = levels[..] else {
            return Err(if levels.len() < 5 {
                TopicError::MissingLevels {
                    levels: levels.len(),
                }
            } else {
                TopicError::ExtraLevels {
                    levels: levels.len(),
                }
            });
        };
        if !is_valid_venue(venue) {
            return Err(TopicError::BadVenue {
                found: venue.to_owned(),
            });
        }
        if !is_valid_device(device) {
            return Err(TopicError::BadDevice {
                found: device.to_owned(),
            });
        }
        let kind = TopicKind::from_level(kind).ok_or_else(|| TopicError::UnknownKind {
            found: kind.to_owned(),
        })?;
        Ok(Topic::from_parts(kind, venue.to_owned(), device.to_owned()))
    }

    pub fn kind(&self) -> TopicKind {
        match self {
            Topic::Telemetry { .. } => TopicKind::Telemetry,
            Topic::Event { .. } => TopicKind::Event,
            Topic::Status { .. } => TopicKind::Status,
            Topic::Cmd { .. } => TopicKind::Cmd,
            Topic::Error { .. } => TopicKind::Error,
        }
    }

    pub fn venue(&self) -> &str {
        match self {
            Topic::Telemetry { venue, .. }
            | Topic::Event { venue, .. }
            | Topic::Status { venue, .. }
            | Topic::Cmd { venue, .. }
            | Topic::Error { venue, .. } => venue,
        }
    }

    pub fn device(&self) -> &str {
        match self {
            Topic::Telemetry { device, .. }
            | Topic::Event { device, .. }
            | Topic::Status { device, .. }
            | Topic::Cmd { device, .. }
            | Topic::Error { device, .. } => device,
        }
    }

    /// The same device's topic of another kind, e.g. where to answer a bad uplink.
    pub fn with_kind(&self, kind: TopicKind) -> Topic {
        Topic::from_parts(kind, self.venue().to_owned(), self.device().to_owned())
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PREFIX}/{VERSION}/{}/{}/{}",
            self.venue(),
            self.device(),
            self.kind()
        )
    }
}

impl FromStr for Topic {
    type Err = TopicError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Topic::parse(s)
    }
}

/// Everything of one device sits under this: `almahira/v1/demo/fridge-1` (its topics add
/// `/telemetry`, `/cmd`...). The hub's gate allows a device nothing outside it.
pub fn device_prefix(venue: &str, device: &str) -> String {
    format!("{PREFIX}/{VERSION}/{venue}/{device}")
}

/// The filter matching `kind` for every venue and device: `almahira/v1/+/+/telemetry`.
pub fn subscription_filter(kind: TopicKind) -> String {
    format!("{PREFIX}/{VERSION}/+/+/{kind}")
}

/// The MQTT shared-subscription form for an external broker, so several hub instances
/// split the load: `$share/hub/almahira/v1/+/+/telemetry`.
pub fn shared_subscription_filter(group: &str, kind: TopicKind) -> String {
    format!("$share/{group}/{}", subscription_filter(kind))
}

/// Every filter the hub subscribes to: the uplink kinds, plain or shared in
/// [`HUB_SHARE_GROUP`].
pub fn hub_subscriptions(shared: bool) -> Vec<String> {
    TopicKind::UPLINK
        .into_iter()
        .map(|kind| {
            if shared {
                shared_subscription_filter(HUB_SHARE_GROUP, kind)
            } else {
                subscription_filter(kind)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_telemetry_topic_parses_into_venue_and_device() {
        let topic = Topic::parse("almahira/v1/demo/fridge-1/telemetry").unwrap();
        assert_eq!(
            topic,
            Topic::Telemetry {
                venue: "demo".into(),
                device: "fridge-1".into()
            }
        );
        assert_eq!(topic.kind().direction(), Direction::Uplink);
    }

    #[test]
    fn every_kind_round_trips_through_display_and_parse() {
        for kind in TopicKind::ALL {
            let topic = Topic::new(kind, "warung_1", "bump-bar_2").unwrap();
            let text = topic.to_string();
            assert_eq!(text, format!("almahira/v1/warung_1/bump-bar_2/{kind}"));
            assert_eq!(Topic::parse(&text).unwrap(), topic);
            assert_eq!(text.parse::<Topic>().unwrap(), topic);
        }
    }

    #[test]
    fn cmd_and_error_are_downlink_the_rest_uplink() {
        assert!(TopicKind::Telemetry.is_uplink());
        assert!(TopicKind::Event.is_uplink());
        assert!(TopicKind::Status.is_uplink());
        assert!(!TopicKind::Cmd.is_uplink());
        assert!(!TopicKind::Error.is_uplink());
    }

    #[test]
    fn a_wrong_prefix_is_refused() {
        assert_eq!(
            Topic::parse("almahera/v1/demo/fridge-1/telemetry"),
            Err(TopicError::WrongPrefix {
                found: "almahera".into()
            })
        );
        assert!(matches!(
            Topic::parse("/almahira/v1/demo/fridge-1/telemetry"),
            Err(TopicError::WrongPrefix { .. })
        ));
        assert!(matches!(
            Topic::parse("$SYS/broker/uptime"),
            Err(TopicError::WrongPrefix { .. })
        ));
    }

    #[test]
    fn a_wrong_version_is_refused() {
        assert_eq!(
            Topic::parse("almahira/v2/demo/fridge-1/telemetry"),
            Err(TopicError::WrongVersion { found: "v2".into() })
        );
    }

    #[test]
    fn uppercase_or_overlong_segments_are_refused() {
        assert!(matches!(
            Topic::parse("almahira/v1/Demo/fridge-1/telemetry"),
            Err(TopicError::BadVenue { .. })
        ));
        assert!(matches!(
            Topic::parse("almahira/v1/demo/fridge 1/telemetry"),
            Err(TopicError::BadDevice { .. })
        ));
        assert!(matches!(
            Topic::parse("almahira/v1//fridge-1/telemetry"),
            Err(TopicError::BadVenue { .. })
        ));
        let long = "d".repeat(65);
        assert!(matches!(
            Topic::parse(&format!("almahira/v1/demo/{long}/telemetry")),
            Err(TopicError::BadDevice { .. })
        ));
        let ok = "d".repeat(64);
        assert!(Topic::parse(&format!("almahira/v1/demo/{ok}/telemetry")).is_ok());
        assert!(Topic::new(TopicKind::Cmd, "demo", "Fridge").is_err());
    }

    #[test]
    fn an_unknown_kind_is_refused() {
        assert_eq!(
            Topic::parse("almahira/v1/demo/fridge-1/telemetri"),
            Err(TopicError::UnknownKind {
                found: "telemetri".into()
            })
        );
    }

    #[test]
    fn wildcards_are_refused_even_where_a_segment_would_be() {
        assert!(matches!(
            Topic::parse("almahira/v1/+/+/telemetry"),
            Err(TopicError::Wildcard { .. })
        ));
        assert!(matches!(
            Topic::parse("almahira/v1/demo/#"),
            Err(TopicError::Wildcard { .. })
        ));
    }

    #[test]
    fn missing_and_extra_levels_are_told_apart() {
        assert_eq!(
            Topic::parse("almahira/v1/demo/telemetry"),
            Err(TopicError::MissingLevels { levels: 4 })
        );
        assert_eq!(
            Topic::parse("almahira"),
            Err(TopicError::MissingLevels { levels: 1 })
        );
        assert_eq!(
            Topic::parse("almahira/v1/demo/fridge-1/telemetry/"),
            Err(TopicError::ExtraLevels { levels: 6 })
        );
        assert_eq!(Topic::parse(""), Err(TopicError::Empty));
    }

    #[test]
    fn the_hub_subscribes_to_uplink_kinds_plain_or_shared() {
        assert_eq!(
            hub_subscriptions(false),
            [
                "almahira/v1/+/+/telemetry",
                "almahira/v1/+/+/event",
                "almahira/v1/+/+/status"
            ]
        );
        assert_eq!(
            hub_subscriptions(true)[0],
            "$share/hub/almahira/v1/+/+/telemetry"
        );
    }

    #[test]
    fn an_error_reply_goes_to_the_same_device() {
        let up = Topic::parse("almahira/v1/demo/scanner-1/event").unwrap();
        assert_eq!(
            up.with_kind(TopicKind::Error).to_string(),
            "almahira/v1/demo/scanner-1/error"
        );
    }
}
