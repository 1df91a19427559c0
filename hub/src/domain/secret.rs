//! Hashed secrets (PIN lookups, PIN and password hashes, device secret hashes) as a type of
//! their own, so that what leaves the hub is redacted by type, not by field name. The
//! journal and snapshots store the hash as a plain string (the journal format is unchanged);
//! anything rendered for people (the audit endpoint, the `audit` channel) is serialised
//! inside [`redacted`], where every `SecretHash` writes `"[redacted]"`. `Debug` never shows
//! the hash, so a logged command cannot leak one either.

use std::{cell::Cell, fmt, ops::Deref};

use serde::{Deserialize, Serialize, Serializer};
use utoipa::ToSchema;

/// What a redacted secret reads as.
pub const REDACTED: &str = "[redacted]";

/// A hash of a secret (argon2 PHC string or keyed lookup hash), never the secret itself.
#[derive(Clone, PartialEq, Eq, Hash, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct SecretHash(String);

impl SecretHash {
    pub fn new(hash: impl Into<String>) -> Self {
        Self(hash.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for SecretHash {
    fn from(hash: String) -> Self {
        Self(hash)
    }
}

impl From<&str> for SecretHash {
    fn from(hash: &str) -> Self {
        Self(hash.to_owned())
    }
}

impl Deref for SecretHash {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for SecretHash {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for SecretHash {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

thread_local! {
    /// Set while [`redacted`] runs on this thread; serialisation is synchronous, so the
    /// flag covers exactly the values serialised inside the closure.
    static REDACTING: Cell<bool> = const { Cell::new(false) };
}

impl Serialize for SecretHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if REDACTING.with(Cell::get) {
            serializer.serialize_str(REDACTED)
        } else {
            serializer.serialize_str(&self.0)
        }
    }
}

/// Runs `render` with every [`SecretHash`] serialising as `"[redacted]"`: use it for
/// everything that shows events or state to people or screens.
pub fn redacted<T>(render: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            REDACTING.with(|flag| flag.set(self.0));
        }
    }
    let _restore = Restore(REDACTING.with(|flag| flag.replace(true)));
    render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Holder {
        hash: SecretHash,
        maybe: Option<SecretHash>,
    }

    #[test]
    fn a_secret_hash_is_stored_as_it_is_and_shown_redacted() {
        let holder = Holder {
            hash: SecretHash::new("$argon2id$v=19$abc"),
            maybe: Some("lookup".into()),
        };
        let stored = serde_json::to_value(&holder).unwrap();
        assert_eq!(stored["hash"], "$argon2id$v=19$abc");
        assert_eq!(stored["maybe"], "lookup");
        let shown = redacted(|| serde_json::to_value(&holder).unwrap());
        assert_eq!(shown["hash"], REDACTED);
        assert_eq!(shown["maybe"], REDACTED);
        // The scope ends with the closure, also when nested.
        redacted(|| redacted(|| ()));
        assert_eq!(
            serde_json::to_value(&holder).unwrap()["hash"],
            "$argon2id$v=19$abc"
        );
    }

    #[test]
    fn debug_output_never_shows_the_hash() {
        let hash = SecretHash::new("$argon2id$secret");
        assert_eq!(format!("{hash:?}"), REDACTED);
        assert_eq!(format!("{:?}", Some(hash)), "Some([redacted])");
    }

    #[test]
    fn a_stored_hash_reads_back_unchanged() {
        let hash: SecretHash = serde_json::from_str("\"$argon2id$x\"").unwrap();
        assert_eq!(hash.as_str(), "$argon2id$x");
    }
}
