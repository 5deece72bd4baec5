//! Legacy OpenSSL PEM encryption (`Proc-Type: 4,ENCRYPTED` with `DEK-Info`), the form MPNS
//! decrypts with `ApplePushCertPassword` (Go's `x509.DecryptPEMBlock`): the key is OpenSSL's
//! `EVP_BytesToKey` (MD5, one round, salted with the IV's first 8 bytes), the cipher CBC.

use cbc::cipher::{block_padding::Pkcs7, BlockCipher, BlockDecryptMut, KeyIvInit};
use md5::{Digest, Md5};

/// Decrypts every encrypted block of a PEM text; other blocks pass through unchanged.
pub fn decrypt(pem_text: &[u8], password: &str) -> Result<Vec<u8>, String> {
    let blocks = pem::parse_many(pem_text).map_err(|e| format!("not PEM: {e}"))?;
    let mut out = String::new();
    for block in blocks {
        let headers = block.headers();
        let encrypted = headers
            .get("Proc-Type")
            .is_some_and(|v| v.contains("ENCRYPTED"));
        let block = if encrypted {
            let dek = headers
                .get("DEK-Info")
                .ok_or("encrypted PEM block without DEK-Info")?;
            let plain = decrypt_block(dek, block.contents(), password)?;
            pem::Pem::new(block.tag(), plain)
        } else {
            pem::Pem::new(block.tag(), block.contents().to_vec())
        };
        out.push_str(&pem::encode(&block));
    }
    Ok(out.into_bytes())
}

fn decrypt_block(dek_info: &str, data: &[u8], password: &str) -> Result<Vec<u8>, String> {
    let (cipher, iv_hex) = dek_info.split_once(',').ok_or("malformed DEK-Info")?;
    let iv = hex_decode(iv_hex.trim()).ok_or("malformed DEK-Info IV")?;
    if iv.len() < 8 {
        return Err("malformed DEK-Info IV".into());
    }
    let key_len = match cipher {
        "AES-128-CBC" => 16,
        "AES-192-CBC" => 24,
        "AES-256-CBC" => 32,
        "DES-EDE3-CBC" => 24,
        "DES-CBC" => 8,
        other => return Err(format!("unsupported PEM cipher {other}")),
    };
    let key = bytes_to_key(password.as_bytes(), &iv[..8], key_len);
    match cipher {
        "AES-128-CBC" => cbc_decrypt::<aes::Aes128>(&key, &iv, data),
        "AES-192-CBC" => cbc_decrypt::<aes::Aes192>(&key, &iv, data),
        "AES-256-CBC" => cbc_decrypt::<aes::Aes256>(&key, &iv, data),
        "DES-EDE3-CBC" => cbc_decrypt::<des::TdesEde3>(&key, &iv, data),
        _ => cbc_decrypt::<des::Des>(&key, &iv, data),
    }
}

fn cbc_decrypt<C>(key: &[u8], iv: &[u8], data: &[u8]) -> Result<Vec<u8>, String>
where
    C: BlockCipher + BlockDecryptMut,
    cbc::Decryptor<C>: KeyIvInit,
{
    cbc::Decryptor::<C>::new_from_slices(key, iv)
        .map_err(|e| e.to_string())?
        .decrypt_padded_vec_mut::<Pkcs7>(data)
        .map_err(|_| "wrong ApplePushCertPassword (or a damaged key)".to_string())
}

/// OpenSSL's `EVP_BytesToKey` with MD5 and one round.
fn bytes_to_key(password: &[u8], salt: &[u8], len: usize) -> Vec<u8> {
    let mut key = Vec::with_capacity(len + 16);
    let mut previous: Vec<u8> = Vec::new();
    while key.len() < len {
        let mut md5 = Md5::new();
        md5.update(&previous);
        md5.update(password);
        md5.update(salt);
        previous = md5.finalize().to_vec();
        key.extend_from_slice(&previous);
    }
    key.truncate(len);
    key
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::decrypt;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/");

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{FIXTURES}{name}")).unwrap()
    }

    /// The DER of the key inside a PEM text.
    fn key_der(pem_text: &[u8]) -> Vec<u8> {
        pem::parse(pem_text).unwrap().contents().to_vec()
    }

    #[test]
    fn openssl_encrypted_keys_decrypt_to_the_plain_key() {
        // OpenSSL wrote the plain key as PKCS#8 and the encrypted ones as SEC1: compare the
        // key itself through rustls's parser.
        use rustls::pki_types::{pem::PemObject, PrivateKeyDer};
        let plain = PrivateKeyDer::from_pem_slice(&fixture("apns-client-key.pem")).unwrap();
        for name in ["apns-client-key.aes256.pem", "apns-client-key.des3.pem"] {
            let decrypted = decrypt(&fixture(name), "fixture-pass").unwrap();
            let key = PrivateKeyDer::from_pem_slice(&decrypted).expect(name);
            assert!(matches!(key, PrivateKeyDer::Sec1(_)), "{name}");
            // The SEC1 key's private scalar appears inside the PKCS#8 wrapper.
            let sec1 = key_der(&decrypted);
            let scalar = &sec1[7..39];
            assert!(
                plain.secret_der().windows(32).any(|w| w == scalar),
                "{name}: same private key"
            );
        }
    }

    #[test]
    fn a_wrong_password_is_an_error_not_garbage() {
        let err = decrypt(&fixture("apns-client-key.aes256.pem"), "nope").unwrap_err();
        assert!(err.contains("wrong ApplePushCertPassword"), "{err}");
        assert!(!err.contains("nope"));
    }
}
