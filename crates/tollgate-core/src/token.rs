//! Session tokens: drawn from the OS CSPRNG, kept only as SHA-256 digests.

use base64::Engine;
use sha2::{Digest, Sha256};

/// The SHA-256 of a token: the only form in which a token is stored or looked up.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenDigest(pub [u8; 32]);

impl TokenDigest {
    pub fn of(token: &str) -> Self {
        TokenDigest(Sha256::digest(token.as_bytes()).into())
    }
}

impl std::fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A digest is not a secret, but a short prefix is all a log reader needs.
        write!(f, "TokenDigest({}…)", hex::encode(&self.0[..4]))
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the OS random number generator failed");
    bytes
}

/// 128 random bits as 32 lower-case hex characters (Cloud Director's `x-vcloud-authorization`).
pub fn hex128() -> String {
    hex::encode(random_bytes::<16>())
}

/// 256 random bits, base64url without padding: 43 characters.
pub fn base64url256() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// Random bytes for salts and dummy secrets.
pub fn random_secret<const N: usize>() -> [u8; N] {
    random_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_promised_shapes() {
        let hex = hex128();
        assert_eq!(hex.len(), 32);
        assert!(hex.chars().all(|c| c.is_ascii_hexdigit()));
        let b64 = base64url256();
        assert_eq!(b64.len(), 43);
        assert_ne!(hex128(), hex128());
    }

    #[test]
    fn digest_is_sha256() {
        assert_eq!(
            hex::encode(TokenDigest::of("abc").0),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
