//! Password hashes made elsewhere, imported with their users (`tollgate user import`): bcrypt,
//! PBKDF2-SHA256 (PHC, passlib and Django strings) and SHA-512-crypt. Each is checked in full
//! when it is imported, so a malformed one is refused then, saying why, rather than failing
//! every login later; a good login replaces it with Argon2id. Every comparison of a computed
//! hash with the stored one is constant-time (the crates' own, or `subtle` for Django's).

use base64::Engine as _;
use mcf::{Base64, PasswordHashRef};
use pbkdf2::password_hash::PasswordVerifier as _;
use pbkdf2::password_hash::phc;
use subtle::ConstantTimeEq as _;

/// Work factors beyond these would hold a hashing thread for seconds at every login.
const MAX_BCRYPT_COST: u32 = 16;
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
const MAX_SHA_CRYPT_ROUNDS: u32 = 5_000_000;
/// PBKDF2's floor (NIST's suggestion, and the `pbkdf2` crate's).
const MIN_PBKDF2_ITERATIONS: u32 = 1000;

const EXPECTED: &str = "expected bcrypt ($2a$, $2b$, $2y$), PBKDF2-SHA256 ($pbkdf2-sha256$ or Django's \
                        pbkdf2_sha256$), SHA-512-crypt ($6$) or Argon2id ($argon2id$)";

/// The format of a stored password hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashFormat {
    /// Tollgate's own.
    Argon2id,
    /// `$2b$12$…` (also `$2a$`, `$2y$`): OpenBSD's, htpasswd's, most web frameworks'.
    Bcrypt,
    /// `$pbkdf2-sha256$i=600000,l=32$salt$hash`, B64 without padding.
    Pbkdf2Sha256Phc,
    /// `$pbkdf2-sha256$29000$salt$hash`, passlib's adapted base64.
    Pbkdf2Sha256Passlib,
    /// `pbkdf2_sha256$870000$salt$hash`: Django's default hasher.
    Pbkdf2Sha256Django,
    /// `$6$rounds=5000$salt$hash` (rounds optional): glibc crypt(3), /etc/shadow.
    Sha512Crypt,
}

impl HashFormat {
    /// The format of `hash`, checked in full: an unknown format, or a known one that does not
    /// parse or asks for too much work, is refused with the reason.
    pub fn of(hash: &str) -> Result<HashFormat, String> {
        let format = if hash.starts_with("$argon2id$") {
            HashFormat::Argon2id
        } else if ["$2a$", "$2b$", "$2y$"].iter().any(|prefix| hash.starts_with(prefix)) {
            HashFormat::Bcrypt
        } else if let Some(rest) = hash.strip_prefix("$pbkdf2-sha256$") {
            match rest.split('$').next().is_some_and(|params| params.contains('=')) {
                true => HashFormat::Pbkdf2Sha256Phc,
                false => HashFormat::Pbkdf2Sha256Passlib,
            }
        } else if hash.starts_with("pbkdf2_sha256$") {
            HashFormat::Pbkdf2Sha256Django
        } else if hash.starts_with("$6$") {
            HashFormat::Sha512Crypt
        } else {
            let shown: String = hash.chars().take(12).collect();
            return Err(format!("unknown password hash format (it starts {shown:?}): {EXPECTED}"));
        };
        format.check(hash).map_err(|why| format!("malformed {} hash: {why}", format.name()))?;
        Ok(format)
    }

    pub fn name(self) -> &'static str {
        match self {
            HashFormat::Argon2id => "Argon2id",
            HashFormat::Bcrypt => "bcrypt",
            HashFormat::Pbkdf2Sha256Phc => "PBKDF2-SHA256 (PHC)",
            HashFormat::Pbkdf2Sha256Passlib => "PBKDF2-SHA256 (passlib)",
            HashFormat::Pbkdf2Sha256Django => "PBKDF2-SHA256 (Django)",
            HashFormat::Sha512Crypt => "SHA-512-crypt",
        }
    }

    fn check(self, hash: &str) -> Result<(), String> {
        match self {
            HashFormat::Argon2id => phc::PasswordHash::new(hash).map(drop).map_err(|e| e.to_string()),
            HashFormat::Bcrypt => {
                let parts: bcrypt::HashParts = hash.parse().map_err(|e: bcrypt::BcryptError| e.to_string())?;
                match parts.get_cost() {
                    cost if cost > MAX_BCRYPT_COST => Err(format!("cost {cost} is above {MAX_BCRYPT_COST}")),
                    _ => Ok(()),
                }
            }
            HashFormat::Pbkdf2Sha256Phc => {
                let parsed = phc::PasswordHash::new(hash).map_err(|e| e.to_string())?;
                let params = pbkdf2::Params::try_from(&parsed).map_err(|e| e.to_string())?;
                if parsed.salt.is_none() || parsed.hash.is_none() {
                    return Err("it has no salt or no hash".into());
                }
                iterations_within_bounds(params.rounds())
            }
            HashFormat::Pbkdf2Sha256Passlib => {
                let fields = mcf_fields(hash, "pbkdf2-sha256", 3)?;
                let rounds: u32 =
                    fields[0].parse().map_err(|_| format!("{:?} is not a number of rounds", fields[0]))?;
                iterations_within_bounds(rounds)?;
                decoded(Base64::Pbkdf2, fields[1], "salt")?;
                let length = decoded(Base64::Pbkdf2, fields[2], "hash")?.len();
                match length {
                    10..=64 => Ok(()),
                    _ => Err(format!("a {length}-byte hash")),
                }
            }
            HashFormat::Pbkdf2Sha256Django => django_parts(hash).map(drop),
            HashFormat::Sha512Crypt => {
                let reference = PasswordHashRef::new(hash).map_err(|e| e.to_string())?;
                let fields: Vec<&str> = reference.fields().map(|field| field.as_str()).collect();
                let (salt, checksum) = match fields.as_slice() {
                    [rounds, salt, checksum] => {
                        let params: sha_crypt::Params = rounds.parse().map_err(|e| format!("{rounds:?}: {e}"))?;
                        let rounds: u32 = rounds.trim_start_matches("rounds=").parse().unwrap_or(u32::MAX);
                        if rounds > MAX_SHA_CRYPT_ROUNDS {
                            return Err(format!("{params} is above {MAX_SHA_CRYPT_ROUNDS}"));
                        }
                        (salt, checksum)
                    }
                    [salt, checksum] => (salt, checksum),
                    _ => return Err("expected $6$[rounds=N$]salt$hash".into()),
                };
                if salt.is_empty() || salt.len() > 16 {
                    return Err("the salt must have 1 to 16 characters".into());
                }
                match decoded(Base64::Crypt, checksum, "hash")?.len() {
                    64 => Ok(()),
                    length => Err(format!("a {length}-byte hash, where SHA-512 makes 64")),
                }
            }
        }
    }
}

fn iterations_within_bounds(iterations: u32) -> Result<(), String> {
    match iterations {
        n if n < MIN_PBKDF2_ITERATIONS => Err(format!("{n} iterations, fewer than {MIN_PBKDF2_ITERATIONS}")),
        n if n > MAX_PBKDF2_ITERATIONS => Err(format!("{n} iterations, more than {MAX_PBKDF2_ITERATIONS}")),
        _ => Ok(()),
    }
}

/// The `count` fields of an MCF string whose id is `id`.
fn mcf_fields<'a>(hash: &'a str, id: &str, count: usize) -> Result<Vec<&'a str>, String> {
    let reference = PasswordHashRef::new(hash).map_err(|e| e.to_string())?;
    if reference.id() != id {
        return Err(format!("the id is {:?}, not {id:?}", reference.id()));
    }
    let fields: Vec<&str> = reference.fields().map(|field| field.as_str()).collect();
    match fields.len() == count {
        true => Ok(fields),
        false => Err(format!("{} fields after the id, not {count}", fields.len())),
    }
}

fn decoded(variant: Base64, field: &str, what: &str) -> Result<Vec<u8>, String> {
    variant.decode_vec(field).map_err(|_| format!("the {what} is not valid base64"))
}

/// Django's `pbkdf2_sha256$iterations$salt$base64(hash)`: the salt is used as its UTF-8 bytes.
fn django_parts(hash: &str) -> Result<(u32, &str, Vec<u8>), String> {
    let parts: Vec<&str> = hash.split('$').collect();
    let [_, iterations, salt, checksum] = parts.as_slice() else {
        return Err("expected pbkdf2_sha256$iterations$salt$hash".into());
    };
    let iterations: u32 = iterations.parse().map_err(|_| format!("{iterations:?} is not a number of iterations"))?;
    iterations_within_bounds(iterations)?;
    if salt.is_empty() {
        return Err("the salt is empty".into());
    }
    let checksum = base64::engine::general_purpose::STANDARD
        .decode(checksum)
        .map_err(|_| "the hash is not valid base64".to_owned())?;
    match checksum.len() {
        32 => Ok((iterations, salt, checksum)),
        length => Err(format!("a {length}-byte hash, where PBKDF2-SHA256 makes 32")),
    }
}

/// Whether `password` matches the imported `hash` of `format` (never Argon2id: the caller
/// verifies those itself). A malformed hash never matches.
pub(crate) fn verify(format: HashFormat, hash: &str, password: &[u8]) -> bool {
    match format {
        HashFormat::Argon2id => false,
        HashFormat::Bcrypt => bcrypt::verify(password, hash).unwrap_or(false),
        HashFormat::Pbkdf2Sha256Phc => phc::PasswordHash::new(hash)
            .is_ok_and(|parsed| pbkdf2::Pbkdf2::default().verify_password(password, &parsed).is_ok()),
        HashFormat::Pbkdf2Sha256Passlib => PasswordHashRef::new(hash)
            .is_ok_and(|reference| pbkdf2::Pbkdf2::default().verify_password(password, reference).is_ok()),
        HashFormat::Pbkdf2Sha256Django => django_parts(hash).is_ok_and(|(iterations, salt, expected)| {
            let mut derived = [0u8; 32];
            pbkdf2::pbkdf2_hmac::<pbkdf2::sha2::Sha256>(password, salt.as_bytes(), iterations, &mut derived);
            derived.ct_eq(&expected[..]).into()
        }),
        HashFormat::Sha512Crypt => sha_crypt::ShaCrypt::default().verify_password(password, hash).is_ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_malformed_hashes_are_refused_saying_why() {
        let refusal = |hash: &str| HashFormat::of(hash).expect_err(hash);
        assert!(refusal("5f4dcc3b5aa765d61d8327deb882cf99").contains("unknown password hash format"));
        assert!(refusal("$1$salt$md5crypthash").contains("unknown"), "MD5-crypt is not taken");
        assert!(refusal("{SSHA}abcdef").contains("unknown"));
        assert!(refusal("").contains("unknown"));
        assert!(refusal("$2b$12$tooshort").contains("malformed bcrypt"));
        assert!(refusal("$2b$31$abcdefghijklmnopqrstuu5fDhOuaXZZr2dgiDz7bMv6YHAFlJ6Rm").contains("malformed bcrypt"));
        assert!(refusal("pbkdf2_sha256$abc$salt$aGFzaA==").contains("not a number"));
        assert!(refusal("pbkdf2_sha256$600000$salt$aGFzaA==").contains("4-byte hash"));
        assert!(refusal("pbkdf2_sha256$999999999$salt$").contains("more than"));
        assert!(refusal("$pbkdf2-sha256$10$c2FsdA$aGFzaA").contains("fewer than"));
        assert!(refusal("$6$salt$tooshort").contains("malformed SHA-512-crypt"));
        assert!(refusal("$6$rounds=999999999$salt$x").contains("malformed SHA-512-crypt"));
    }

    #[test]
    fn formats_are_told_apart_by_their_prefix_and_parameters() {
        let bcrypt = "$2y$05$k.fXJQ1hiRjWxtoxze8SJu8EigiqmdmyBdcL4jQhrbmGRUeUedni6";
        let sha512 =
            "$6$abcdefgh$KQeXafAQAaOoKTevphVU215RvJdgzyfASRasIOuh12hO8u0r1bGW92ZnTmC9IjsiQ8VPiTXBiZF49dFL1U4wX/";
        assert_eq!(HashFormat::of(bcrypt), Ok(HashFormat::Bcrypt));
        assert_eq!(HashFormat::of(sha512), Ok(HashFormat::Sha512Crypt));
        assert!(verify(HashFormat::Bcrypt, bcrypt, b"pw") && !verify(HashFormat::Bcrypt, bcrypt, b"pW"));
        assert!(verify(HashFormat::Sha512Crypt, sha512, b"pw") && !verify(HashFormat::Sha512Crypt, sha512, b"pv"));
        assert_eq!(HashFormat::of(&crate::password::hash_blocking("x")), Ok(HashFormat::Argon2id));
    }
}
