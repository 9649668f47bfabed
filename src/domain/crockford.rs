//! Crockford base32: no I, L, O, U, so a code read aloud or typed from paper survives. Used
//! for enrollment codes and for the references of tickets the gateway opens.

use rand::RngCore;

pub const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// `len` random Crockford characters (5 bits each) from the operating system's generator.
pub fn random(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[(*b & 31) as usize] as char)
        .collect()
}
