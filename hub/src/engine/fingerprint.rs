//! The fingerprint of a command: a 64-bit hash of everything it says, used to refuse a
//! `command_id` reused for a different command. It walks the command through serde, as
//! the JSON encoding would, but feeds each value straight into an FNV-1a hash instead of
//! building a JSON text and hashing that with SHA-256: no allocation, one pass.
//!
//! It must stay stable, because fingerprints are stored with each command record
//! (`commands.fingerprint`) and compared after a restart: the bytes fed for every kind of
//! value are fixed here (a type marker, then fixed-width little-endian numbers or a length
//! and the bytes), field and variant names count by their serde names, and nothing
//! depends on the Rust version or the platform. Changing what is fed changes every
//! fingerprint: a migration must then set the stored ones to NULL (unknown, never compared).
//! The SHA-256 fingerprints of before were only ever kept in snapshots, which no longer
//! carry the window, so none of them is compared with one of these.
//!
//! It must never build a `serde_json::Value` or any other copy of the command.

use serde::{Serialize, ser};

use crate::domain::Command;

/// Top-level fields that hold a freshly salted hash: a retry of the same command carries
/// a new one, so they do not count.
const SALTED: [&str; 3] = ["pin_hash", "password_hash", "secret_hash"];

/// A stable hash of a command. The salted hashes of staff secrets and device secrets are
/// left out, since a retry of the same command carries new ones; everything else counts,
/// so an id reused for another kind of command, another person or another device is caught.
/// `None` if the command cannot be walked (it always can; serde's contract allows failure).
pub fn fingerprint(command: &Command) -> Option<u64> {
    let salted = matches!(
        command,
        Command::AddStaff { .. }
            | Command::SetStaffPin { .. }
            | Command::SetStaffPassword { .. }
            | Command::ProvisionDevice { .. }
            | Command::RotateDeviceSecret { .. }
    );
    let mut hasher = Hasher {
        state: FNV_OFFSET,
        depth: 0,
        skip_salted: salted,
    };
    command.serialize(&mut hasher).ok()?;
    Some(hasher.state)
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// What kind of value the bytes that follow are, so `"1"` and `1`, or `[]` and `{}`, differ.
#[derive(Clone, Copy)]
#[repr(u8)]
enum Marker {
    Bool = 1,
    Signed,
    Unsigned,
    Float,
    Char,
    Str,
    Bytes,
    Null,
    Some,
    Unit,
    Variant,
    Seq,
    Map,
    Struct,
    End,
}

struct Hasher {
    state: u64,
    /// How many structs or maps deep the value being fed is; salted fields are skipped
    /// only at depth 1, the command's own fields.
    depth: u32,
    skip_salted: bool,
}

impl Hasher {
    fn feed(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.state ^= u64::from(*byte);
            self.state = self.state.wrapping_mul(FNV_PRIME);
        }
    }

    fn mark(&mut self, marker: Marker) {
        self.feed(&[marker as u8]);
    }

    fn text(&mut self, marker: Marker, bytes: &[u8]) {
        self.mark(marker);
        self.feed(&(bytes.len() as u64).to_le_bytes());
        self.feed(bytes);
    }

    fn open(&mut self, marker: Marker) -> &mut Self {
        self.mark(marker);
        self.depth += 1;
        self
    }

    fn close(&mut self) {
        self.depth -= 1;
        self.mark(Marker::End);
    }
}

impl<'a> ser::Serializer for &'a mut Hasher {
    type Ok = ();
    type Error = serde_json::Error;
    type SerializeSeq = &'a mut Hasher;
    type SerializeTuple = &'a mut Hasher;
    type SerializeTupleStruct = &'a mut Hasher;
    type SerializeTupleVariant = &'a mut Hasher;
    type SerializeMap = &'a mut Hasher;
    type SerializeStruct = &'a mut Hasher;
    type SerializeStructVariant = &'a mut Hasher;

    fn serialize_bool(self, value: bool) -> Result<(), Self::Error> {
        self.mark(Marker::Bool);
        self.feed(&[u8::from(value)]);
        Ok(())
    }

    fn serialize_i8(self, value: i8) -> Result<(), Self::Error> {
        self.serialize_i64(i64::from(value))
    }

    fn serialize_i16(self, value: i16) -> Result<(), Self::Error> {
        self.serialize_i64(i64::from(value))
    }

    fn serialize_i32(self, value: i32) -> Result<(), Self::Error> {
        self.serialize_i64(i64::from(value))
    }

    fn serialize_i64(self, value: i64) -> Result<(), Self::Error> {
        self.mark(Marker::Signed);
        self.feed(&value.to_le_bytes());
        Ok(())
    }

    fn serialize_i128(self, value: i128) -> Result<(), Self::Error> {
        self.mark(Marker::Signed);
        self.feed(&value.to_le_bytes());
        Ok(())
    }

    fn serialize_u8(self, value: u8) -> Result<(), Self::Error> {
        self.serialize_u64(u64::from(value))
    }

    fn serialize_u16(self, value: u16) -> Result<(), Self::Error> {
        self.serialize_u64(u64::from(value))
    }

    fn serialize_u32(self, value: u32) -> Result<(), Self::Error> {
        self.serialize_u64(u64::from(value))
    }

    fn serialize_u64(self, value: u64) -> Result<(), Self::Error> {
        self.mark(Marker::Unsigned);
        self.feed(&value.to_le_bytes());
        Ok(())
    }

    fn serialize_u128(self, value: u128) -> Result<(), Self::Error> {
        self.mark(Marker::Unsigned);
        self.feed(&value.to_le_bytes());
        Ok(())
    }

    fn serialize_f32(self, value: f32) -> Result<(), Self::Error> {
        self.serialize_f64(f64::from(value))
    }

    fn serialize_f64(self, value: f64) -> Result<(), Self::Error> {
        self.mark(Marker::Float);
        self.feed(&value.to_bits().to_le_bytes());
        Ok(())
    }

    fn serialize_char(self, value: char) -> Result<(), Self::Error> {
        self.mark(Marker::Char);
        self.feed(&u32::from(value).to_le_bytes());
        Ok(())
    }

    fn serialize_str(self, value: &str) -> Result<(), Self::Error> {
        self.text(Marker::Str, value.as_bytes());
        Ok(())
    }

    fn serialize_bytes(self, value: &[u8]) -> Result<(), Self::Error> {
        self.text(Marker::Bytes, value);
        Ok(())
    }

    fn serialize_none(self) -> Result<(), Self::Error> {
        self.mark(Marker::Null);
        Ok(())
    }

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<(), Self::Error> {
        self.mark(Marker::Some);
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Self::Error> {
        self.mark(Marker::Unit);
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Self::Error> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Self::Error> {
        self.text(Marker::Variant, variant.as_bytes());
        Ok(())
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Self::Error> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Self::Error> {
        self.text(Marker::Variant, variant.as_bytes());
        value.serialize(self)
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Self::Error> {
        Ok(self.open(Marker::Seq))
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Self::Error> {
        Ok(self.open(Marker::Seq))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Self::Error> {
        Ok(self.open(Marker::Seq))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Self::Error> {
        self.text(Marker::Variant, variant.as_bytes());
        Ok(self.open(Marker::Seq))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Self::Error> {
        Ok(self.open(Marker::Map))
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, Self::Error> {
        Ok(self.open(Marker::Struct))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Self::Error> {
        self.text(Marker::Variant, variant.as_bytes());
        Ok(self.open(Marker::Struct))
    }
}

impl ser::SerializeSeq for &mut Hasher {
    type Ok = ();
    type Error = serde_json::Error;

    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Self::Error> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), Self::Error> {
        self.close();
        Ok(())
    }
}

impl ser::SerializeTuple for &mut Hasher {
    type Ok = ();
    type Error = serde_json::Error;

    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Self::Error> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), Self::Error> {
        self.close();
        Ok(())
    }
}

impl ser::SerializeTupleStruct for &mut Hasher {
    type Ok = ();
    type Error = serde_json::Error;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Self::Error> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), Self::Error> {
        self.close();
        Ok(())
    }
}

impl ser::SerializeTupleVariant for &mut Hasher {
    type Ok = ();
    type Error = serde_json::Error;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Self::Error> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), Self::Error> {
        self.close();
        Ok(())
    }
}

impl ser::SerializeMap for &mut Hasher {
    type Ok = ();
    type Error = serde_json::Error;

    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), Self::Error> {
        key.serialize(&mut **self)
    }

    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Self::Error> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), Self::Error> {
        self.close();
        Ok(())
    }
}

impl ser::SerializeStruct for &mut Hasher {
    type Ok = ();
    type Error = serde_json::Error;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Self::Error> {
        if self.skip_salted && self.depth == 1 && SALTED.contains(&key) {
            return Ok(());
        }
        self.text(Marker::Str, key.as_bytes());
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), Self::Error> {
        self.close();
        Ok(())
    }
}

impl ser::SerializeStructVariant for &mut Hasher {
    type Ok = ();
    type Error = serde_json::Error;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Self::Error> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }

    fn end(self) -> Result<(), Self::Error> {
        self.close();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "test code: panicking is how a test fails"
    )]

    use uuid::Uuid;

    use super::fingerprint;
    use crate::domain::{Command, Role, StaffId, TableId};

    fn add_staff(name: &str, pin_hash: &str) -> Command {
        Command::AddStaff {
            staff_id: StaffId(Uuid::from_u128(7)),
            name: name.to_owned(),
            role: Role::Waiter,
            username: None,
            pin_lookup: Some("lookup".into()),
            pin_hash: Some(pin_hash.into()),
            password_hash: None,
        }
    }

    #[test]
    fn a_retry_with_a_fresh_salt_is_the_same_command_but_another_person_is_not() {
        let first = fingerprint(&add_staff("Wulan", "$argon2id$salt-one")).unwrap();
        assert_eq!(
            fingerprint(&add_staff("Wulan", "$argon2id$salt-two")),
            Some(first)
        );
        assert_ne!(
            fingerprint(&add_staff("Budi", "$argon2id$salt-one")),
            Some(first)
        );
        let other_kind = Command::SplitTables {
            table_id: TableId(Uuid::from_u128(7)),
        };
        assert_ne!(fingerprint(&other_kind), Some(first));
    }

    #[test]
    fn every_field_of_an_unsalted_command_counts_and_the_hash_is_fixed() {
        let split = |n| Command::SplitTables {
            table_id: TableId(Uuid::from_u128(n)),
        };
        assert_eq!(fingerprint(&split(7)), fingerprint(&split(7)));
        assert_ne!(fingerprint(&split(7)), fingerprint(&split(8)));
        // Stored fingerprints are compared after a restart or an upgrade: the bytes fed for
        // a command must never change without a migration that forgets the stored ones.
        assert_eq!(fingerprint(&split(7)), Some(PINNED_SPLIT_7));
    }

    /// The fingerprint of `split_tables` of table 7.
    const PINNED_SPLIT_7: u64 = 6_620_140_005_866_819_869;

    /// Figures, not an assertion: `cargo test -p hub --lib fingerprint_cost -- --ignored
    /// --nocapture` prints the cost of this fingerprint beside the SHA-256 of the JSON text
    /// it replaced.
    #[test]
    #[ignore = "prints figures"]
    fn fingerprint_cost() {
        use sha2::{Digest, Sha256};
        let command = add_staff("Wulan Sari", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA");
        let rounds = 100_000u32;
        let started = std::time::Instant::now();
        let mut sink = 0u64;
        for _ in 0..rounds {
            sink ^= fingerprint(std::hint::black_box(&command)).unwrap();
        }
        let walked = started.elapsed() / rounds;
        let started = std::time::Instant::now();
        for _ in 0..rounds {
            let json = serde_json::to_vec(std::hint::black_box(&command)).unwrap();
            sink ^= u64::from(Sha256::digest(&json)[0]);
        }
        let hashed = started.elapsed() / rounds;
        println!("fingerprint {walked:?} per command, JSON + SHA-256 {hashed:?} ({sink})");
    }
}
