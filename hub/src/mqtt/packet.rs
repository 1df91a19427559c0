//! Just enough of MQTT 3.1.1 framing for the device gate: where a packet ends, what type it
//! is, whether a CONNECT speaks 3.1.1 with valid flags, the topic of a PUBLISH and the
//! filters of a SUBSCRIBE. Everything else is forwarded to the broker byte for byte, so
//! this never re-encodes a device's traffic.

/// Control packet types the gate looks at (MQTT 3.1.1, section 2.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketType {
    Connect,
    Publish,
    Subscribe,
    Disconnect,
    /// Acks, pings, unsubscribe: nothing to check.
    Other(u8),
}

impl PacketType {
    fn from_byte(first: u8) -> PacketType {
        match first >> 4 {
            1 => PacketType::Connect,
            3 => PacketType::Publish,
            8 => PacketType::Subscribe,
            14 => PacketType::Disconnect,
            other => PacketType::Other(other),
        }
    }
}

/// One whole packet at the start of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    pub packet_type: PacketType,
    /// Fixed-header length (type byte plus 1-4 length bytes).
    pub header_len: usize,
    /// Fixed header plus body.
    pub total_len: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("remaining length is longer than four bytes")]
    BadLength,
    #[error("packet of {size} bytes is over the {max}-byte limit")]
    TooLarge { size: usize, max: usize },
    #[error("malformed {0} packet")]
    Malformed(&'static str),
}

/// The packet at the start of `buf`, or `None` until all of it has arrived.
pub fn frame(buf: &[u8], max_packet: usize) -> Result<Option<Frame>, FrameError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let mut remaining: usize = 0;
    let mut shift = 0;
    let mut index = 1;
    loop {
        let Some(&byte) = buf.get(index) else {
            // The length is not complete yet; four bytes is the most it may take.
            return if index > 4 {
                Err(FrameError::BadLength)
            } else {
                Ok(None)
            };
        };
        remaining += usize::from(byte & 0x7f) << shift;
        index += 1;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if index > 4 {
            return Err(FrameError::BadLength);
        }
    }
    let total_len = index + remaining;
    if total_len > max_packet {
        return Err(FrameError::TooLarge {
            size: total_len,
            max: max_packet,
        });
    }
    if buf.len() < total_len {
        return Ok(None);
    }
    Ok(Some(Frame {
        packet_type: PacketType::from_byte(first),
        header_len: index,
        total_len,
    }))
}

fn string_at<'a>(
    body: &'a [u8],
    at: usize,
    what: &'static str,
) -> Result<(&'a str, usize), FrameError> {
    let len_bytes = body.get(at..at + 2).ok_or(FrameError::Malformed(what))?;
    let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
    let text = body
        .get(at + 2..at + 2 + len)
        .ok_or(FrameError::Malformed(what))?;
    let text = std::str::from_utf8(text).map_err(|_| FrameError::Malformed(what))?;
    Ok((text, at + 2 + len))
}

/// The topic of a PUBLISH packet (`packet` is the whole frame).
pub fn publish_topic(packet: &[u8], frame: Frame) -> Result<&str, FrameError> {
    let body = &packet[frame.header_len..frame.total_len];
    string_at(body, 0, "PUBLISH").map(|(topic, _)| topic)
}

/// The filters of a SUBSCRIBE packet (`packet` is the whole frame).
pub fn subscribe_filters(packet: &[u8], frame: Frame) -> Result<Vec<&str>, FrameError> {
    let body = &packet[frame.header_len..frame.total_len];
    // Packet identifier, then (filter, requested QoS) pairs; at least one.
    let mut at = 2;
    let mut filters = Vec::new();
    while at < body.len() {
        let (filter, next) = string_at(body, at, "SUBSCRIBE")?;
        if next >= body.len() {
            return Err(FrameError::Malformed("SUBSCRIBE"));
        }
        filters.push(filter);
        at = next + 1;
    }
    if filters.is_empty() {
        return Err(FrameError::Malformed("SUBSCRIBE"));
    }
    Ok(filters)
}

/// What the variable header of a CONNECT says about the protocol it speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectCheck {
    /// MQTT 3.1.1 with valid connect flags.
    Supported,
    /// A protocol level the hub does not speak (MQTT 3.1, MQTT 5, unknown): answered with
    /// CONNACK 0x01, then closed (3.1.1 section 3.1.2.2).
    UnsupportedLevel(u8),
}

/// Checks a CONNECT's fixed-header flags, protocol name, level and connect flags, which
/// rumqttd's parser does not all look at: the fixed-header flags must be 0 (2.2.2) and the
/// reserved connect flag 0 (3.1.2.3), or the connection is closed without an answer;
/// a password needs a user name (3.1.2.9).
pub fn check_connect(packet: &[u8], frame: Frame) -> Result<ConnectCheck, FrameError> {
    const MALFORMED: FrameError = FrameError::Malformed("CONNECT");
    if packet.first() != Some(&0x10) {
        return Err(MALFORMED);
    }
    let body = &packet[frame.header_len..frame.total_len];
    let (name, at) = string_at(body, 0, "CONNECT")?;
    let level = *body.get(at).ok_or(MALFORMED)?;
    match (name, level) {
        ("MQTT", 4) => {}
        ("MQTT", _) | ("MQIsdp", _) => return Ok(ConnectCheck::UnsupportedLevel(level)),
        _ => return Err(MALFORMED),
    }
    let flags = *body.get(at + 1).ok_or(MALFORMED)?;
    let reserved = flags & 0b0000_0001 != 0;
    let password_without_user = flags & 0b0100_0000 != 0 && flags & 0b1000_0000 == 0;
    if reserved || password_without_user {
        return Err(MALFORMED);
    }
    Ok(ConnectCheck::Supported)
}

/// CONNACK return codes of MQTT 3.1.1 (section 3.2.2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ConnackCode {
    UnacceptableProtocol = 1,
    IdentifierRejected = 2,
    ServerUnavailable = 3,
    BadUserNameOrPassword = 4,
    NotAuthorized = 5,
}

/// A DISCONNECT, as the gate sends the broker for a connection the hub closes.
pub const DISCONNECT: [u8; 2] = [0xe0, 0x00];

/// A CONNACK refusing the connection.
pub fn connack_refusal(code: ConnackCode) -> [u8; 4] {
    [0x20, 0x02, 0x00, code as u8]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish(topic: &str, payload: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&(topic.len() as u16).to_be_bytes());
        body.extend_from_slice(topic.as_bytes());
        body.extend_from_slice(payload);
        let mut packet = vec![0x30];
        let mut len = body.len();
        loop {
            let mut byte = (len % 128) as u8;
            len /= 128;
            if len > 0 {
                byte |= 0x80;
            }
            packet.push(byte);
            if len == 0 {
                break;
            }
        }
        packet.extend_from_slice(&body);
        packet
    }

    #[test]
    fn a_publish_is_framed_and_its_topic_read() {
        let packet = publish("almahira/v1/demo/fridge-1/telemetry", b"{}");
        let frame = frame(&packet, 1024).unwrap().unwrap();
        assert_eq!(frame.packet_type, PacketType::Publish);
        assert_eq!(frame.total_len, packet.len());
        assert_eq!(
            publish_topic(&packet, frame).unwrap(),
            "almahira/v1/demo/fridge-1/telemetry"
        );
    }

    #[test]
    fn a_packet_split_across_reads_waits_for_the_rest() {
        let packet = publish("a/b", &[b'x'; 300]);
        for cut in 0..packet.len() {
            assert_eq!(frame(&packet[..cut], 4096).unwrap(), None, "cut at {cut}");
        }
        assert!(frame(&packet, 4096).unwrap().is_some());
    }

    #[test]
    fn a_length_over_four_bytes_is_refused() {
        assert_eq!(
            frame(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x01], 1 << 30),
            Err(FrameError::BadLength)
        );
    }

    #[test]
    fn an_oversized_packet_is_refused_before_it_arrives() {
        let packet = publish("a/b", &[0; 2000]);
        assert!(matches!(
            frame(&packet[..4], 1024),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn subscribe_filters_are_listed() {
        let mut body = vec![0x00, 0x07];
        for filter in ["x/cmd", "x/error"] {
            body.extend_from_slice(&(filter.len() as u16).to_be_bytes());
            body.extend_from_slice(filter.as_bytes());
            body.push(1);
        }
        let mut packet = vec![0x82, body.len() as u8];
        packet.extend_from_slice(&body);
        let frame = frame(&packet, 1024).unwrap().unwrap();
        assert_eq!(frame.packet_type, PacketType::Subscribe);
        assert_eq!(
            subscribe_filters(&packet, frame).unwrap(),
            ["x/cmd", "x/error"]
        );
    }

    fn connect(first: u8, name: &str, level: u8, flags: u8) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&(name.len() as u16).to_be_bytes());
        body.extend_from_slice(name.as_bytes());
        body.extend_from_slice(&[level, flags, 0, 30, 0, 1, b'x']);
        let mut packet = vec![first, body.len() as u8];
        packet.extend_from_slice(&body);
        packet
    }

    fn checked(packet: &[u8]) -> Result<ConnectCheck, FrameError> {
        check_connect(packet, frame(packet, 1024).unwrap().unwrap())
    }

    #[test]
    fn an_mqtt_3_1_1_connect_is_supported_and_other_levels_are_named() {
        assert_eq!(
            checked(&connect(0x10, "MQTT", 4, 0b0000_0010)),
            Ok(ConnectCheck::Supported)
        );
        assert_eq!(
            checked(&connect(0x10, "MQTT", 4, 0b1100_0010)),
            Ok(ConnectCheck::Supported)
        );
        for (name, level) in [("MQTT", 5), ("MQIsdp", 3), ("MQTT", 3), ("MQTT", 200)] {
            assert_eq!(
                checked(&connect(0x10, name, level, 0b0000_0010)),
                Ok(ConnectCheck::UnsupportedLevel(level)),
                "{name} {level}"
            );
        }
    }

    #[test]
    fn reserved_bits_a_foreign_protocol_name_or_a_lone_password_are_malformed() {
        for packet in [
            connect(0x10, "MQTT", 4, 0b0000_0011),
            connect(0x11, "MQTT", 4, 0b0000_0010),
            connect(0x10, "HTTP", 4, 0b0000_0010),
            connect(0x10, "MQTT", 4, 0b0100_0010),
        ] {
            assert_eq!(
                checked(&packet),
                Err(FrameError::Malformed("CONNECT")),
                "{packet:?}"
            );
        }
        let cut = [0x10, 0x04, 0x00, 0x04, b'M', b'Q'];
        assert!(check_connect(&cut, frame(&cut, 1024).unwrap().unwrap()).is_err());
    }

    #[test]
    fn a_truncated_topic_is_malformed() {
        let packet = [0x30, 0x03, 0x00, 0x09, b'a'];
        let frame = frame(&packet, 1024).unwrap().unwrap();
        assert_eq!(
            publish_topic(&packet, frame),
            Err(FrameError::Malformed("PUBLISH"))
        );
    }
}
