//! Secrets staff log in with: argon2id hashing and verification of PINs and passwords,
//! the keyed PIN lookup, and the rules a new PIN or password must meet.
//! It never stores anything and never sees the database: callers keep the strings.

use std::sync::{Condvar, Mutex};

use argon2::{
    Algorithm, Argon2, Block, Params, Version,
    password_hash::{self, Output, ParamsString, PasswordHash, Salt, SaltString},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use rand::{RngCore, rngs::OsRng};
use sha2::Sha256;

use super::AuthError;
use crate::domain::VenueId;

/// argon2id memory cost in KiB (19 MiB, two passes, one lane: the OWASP baseline). It
/// verifies in roughly 10-30 ms on a release build, slow enough to make guessing a
/// stolen hash expensive and fast enough for a busy lunch rush of logins.
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;

/// Shortest password we accept for owners and managers who log in by username.
pub const MIN_PASSWORD_CHARS: usize = 8;
const PIN_DIGITS: std::ops::RangeInclusive<usize> = 4..=8;

fn argon2() -> Result<Argon2<'static>, AuthError> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None)
        .map_err(|e| AuthError::Internal(format!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// argon2's working memory (19 MiB per run), reused rather than freed: glibc's malloc
/// keeps a freed block that big in the freeing thread's arena for good, so a reconnect
/// storm of devices or a fleet provisioned at once (each hash on some blocking thread)
/// left the hub holding gigabytes. There are at most one buffer per core; a run that
/// finds none free waits for one (callers run argon2 on blocking threads anyway).
struct Workspaces {
    free: Vec<Vec<Block>>,
    created: usize,
}

static WORKSPACES: Mutex<Workspaces> = Mutex::new(Workspaces {
    free: Vec::new(),
    created: 0,
});
static RETURNED: Condvar = Condvar::new();

fn most_workspaces() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

fn with_workspace<T>(blocks: usize, run: impl FnOnce(&mut [Block]) -> T) -> T {
    let mut memory = {
        let mut pool = WORKSPACES.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(memory) = pool.free.pop() {
                break memory;
            }
            if pool.created < most_workspaces() {
                pool.created += 1;
                break Vec::new();
            }
            pool = RETURNED.wait(pool).unwrap_or_else(|p| p.into_inner());
        }
    };
    memory.resize(blocks, Block::default());
    // Returned by the guard even if `run` panics, so the pool never shrinks.
    let mut lease = Lease(memory);
    run(&mut lease.0)
}

struct Lease(Vec<Block>);

impl Drop for Lease {
    fn drop(&mut self) {
        let memory = std::mem::take(&mut self.0);
        WORKSPACES
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .free
            .push(memory);
        RETURNED.notify_one();
    }
}

/// argon2 of `password` with `salt`, as a PHC hash, on reused working memory.
fn hash_with<'a>(
    argon: &Argon2<'_>,
    algorithm: Algorithm,
    version: Version,
    params: &Params,
    password: &[u8],
    salt: Salt<'a>,
) -> password_hash::Result<PasswordHash<'a>> {
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes)?;
    let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let output = Output::init_with(output_len, |out| {
        with_workspace(params.block_count(), |memory| {
            argon.hash_password_into_with_memory(password, salt_bytes, out, memory)
        })
        .map_err(password_hash::Error::from)
    })?;
    Ok(PasswordHash {
        algorithm: algorithm.ident(),
        version: Some(version.into()),
        params: ParamsString::try_from(params)?,
        salt: Some(salt),
        hash: Some(output),
    })
}

/// Hashes a PIN or password into an argon2id PHC string with a fresh random salt.
/// The parameters travel inside the string, so they can be raised later without
/// invalidating existing hashes.
pub fn hash_secret(plain: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    let argon = argon2()?;
    let params = argon.params().clone();
    hash_with(
        &argon,
        Algorithm::Argon2id,
        Version::V0x13,
        &params,
        plain.as_bytes(),
        salt.as_salt(),
    )
    .map(|hash| hash.to_string())
    .map_err(|e| AuthError::Internal(format!("argon2 hashing: {e}")))
}

/// Whether `plain` matches the PHC string `phc`, with the algorithm, version and
/// parameters recorded in it (not the current ones). The comparison is constant-time
/// (`Output`'s equality); a malformed `phc` simply does not match.
pub fn verify_secret(plain: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let argon = Argon2::new(algorithm, version, params.clone());
    hash_with(&argon, algorithm, version, &params, plain.as_bytes(), salt)
        .ok()
        .and_then(|computed| computed.hash)
        .is_some_and(|computed| computed == expected)
}

/// The keyed lookup value stored beside a PIN hash: base64url(HMAC-SHA256(key, venue_id ||
/// pin)). It lets the store find the one staff member of a venue with this PIN by index,
/// after which the PIN is still verified against its argon2 hash. Without the per-hub
/// `key`, a leaked table of lookups cannot be reversed by trying all 10^4..10^8 PINs.
/// The venue id is a fixed 16 bytes, so the concatenation is unambiguous.
pub fn pin_lookup(key: &[u8], venue_id: VenueId, pin: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(venue_id.0.as_bytes());
    mac.update(pin.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// 32 random bytes from the operating system, for a hub's PIN lookup or JWT key when
/// none is configured. The hub stores it so lookups and tokens survive a restart.
pub fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    OsRng.fill_bytes(&mut key);
    key
}

/// A PIN is 4 to 8 ASCII digits (what a handheld's number pad can type).
pub fn validate_pin(pin: &str) -> Result<(), AuthError> {
    if PIN_DIGITS.contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(AuthError::InvalidPin)
    }
}

/// A password has at least [`MIN_PASSWORD_CHARS`] characters (not bytes).
pub fn validate_password(password: &str) -> Result<(), AuthError> {
    if password.chars().count() >= MIN_PASSWORD_CHARS {
        Ok(())
    } else {
        Err(AuthError::WeakPassword {
            min: MIN_PASSWORD_CHARS,
        })
    }
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    #[test]
    fn hashes_on_reused_memory_are_standard_argon2id_phc_strings() {
        let ours = hash_secret("correct horse").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"wrong horse", &parsed)
                .is_err()
        );

        let salt = SaltString::generate(&mut OsRng);
        let theirs = argon2()
            .unwrap()
            .hash_password(b"1234", &salt)
            .unwrap()
            .to_string();
        assert!(verify_secret("1234", &theirs));
        assert!(!verify_secret("1235", &theirs));
        // A hash with other parameters (argon2's defaults) verifies with its own.
        let other = Argon2::default()
            .hash_password(b"pin", &salt)
            .unwrap()
            .to_string();
        assert!(verify_secret("pin", &other));
        assert!(!verify_secret(
            "pin",
            "$argon2id$v=19$m=19456,t=2,p=1$bm90YXNhbHQ$"
        ));
    }

    use uuid::Uuid;

    use super::*;

    #[test]
    fn a_hashed_secret_verifies_only_with_the_same_secret() {
        let phc = hash_secret("4821").unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify_secret("4821", &phc));
        assert!(!verify_secret("4822", &phc));
    }

    #[test]
    fn hashing_the_same_secret_twice_uses_different_salts() {
        assert_ne!(
            hash_secret("hunter22").unwrap(),
            hash_secret("hunter22").unwrap()
        );
    }

    #[test]
    fn a_malformed_hash_never_verifies() {
        assert!(!verify_secret("4821", "not a phc string"));
        assert!(!verify_secret("4821", ""));
    }

    #[test]
    fn pin_lookup_depends_on_key_venue_and_pin() {
        let venue = VenueId(Uuid::from_u128(1));
        let other_venue = VenueId(Uuid::from_u128(2));
        let base = pin_lookup(b"key-one", venue, "1234");
        assert_eq!(base, pin_lookup(b"key-one", venue, "1234"));
        assert_ne!(base, pin_lookup(b"key-two", venue, "1234"));
        assert_ne!(base, pin_lookup(b"key-one", other_venue, "1234"));
        assert_ne!(base, pin_lookup(b"key-one", venue, "1235"));
        // 32 bytes of HMAC in unpadded base64url.
        assert_eq!(base.len(), 43);
        assert!(!base.contains(['+', '/', '=']));
    }

    #[test]
    fn pins_are_four_to_eight_ascii_digits() {
        for ok in ["0000", "1234", "12345678"] {
            assert!(validate_pin(ok).is_ok(), "{ok}");
        }
        for bad in ["", "123", "123456789", "12a4", "１２３４", " 1234", "12 34"] {
            assert_eq!(
                validate_pin(bad).unwrap_err().code(),
                "invalid_pin",
                "{bad}"
            );
        }
    }

    #[test]
    fn passwords_need_eight_characters_not_bytes() {
        assert!(validate_password("abcdefgh").is_ok());
        assert!(validate_password("ÿÿÿÿÿÿÿÿ").is_ok());
        assert_eq!(
            validate_password("abcdefg").unwrap_err().code(),
            "weak_password"
        );
        // Seven characters but more than eight bytes.
        assert!(validate_password("ÿÿÿÿÿÿÿ").is_err());
    }

    #[test]
    fn random_keys_differ() {
        assert_ne!(random_key(), random_key());
    }
}
