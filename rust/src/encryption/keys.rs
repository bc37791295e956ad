//! The keys that wrap each object's own data key: the master key (S3's SSE-S3), the
//! local key ring (SSE-KMS without a KMS service) and a client's key (SSE-C). A data
//! key is random per object (or per multipart upload) and stored only wrapped, so a
//! master key can be rotated by rewrapping data keys, never by re-encrypting bodies.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{KeyInit, Mac};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use super::package::DataKey;
use crate::storage::interface::{CustomerKey, Refusal, Scheme, Seal, Sealed};

/// The key id reported for SSE-KMS under the master key, when no key ring key is the
/// default (AWS's own managed key for S3 has this alias).
pub const MANAGED_KMS_ALIAS: &str = "aws/s3";

/// A key-encryption key.
struct Kek(LessSafeKey);

impl Kek {
    fn new(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() != 32 {
            return Err(format!("a key must be 32 bytes, not {}", bytes.len()));
        }
        Ok(Kek(LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| "not an AES-256 key")?,
        )))
    }

    fn wrap(&self, data_key: &[u8; 32], aad: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        random(&mut nonce);
        let mut out = nonce.to_vec();
        out.extend_from_slice(data_key);
        let tag = self
            .0
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut out[NONCE_LEN..],
            )
            .expect("wrapping 32 bytes cannot fail");
        out.extend_from_slice(tag.as_ref());
        B64.encode(out)
    }

    fn unwrap(&self, wrapped: &str, aad: &[u8]) -> Option<Zeroizing<[u8; 32]>> {
        let mut bytes = Zeroizing::new(B64.decode(wrapped).ok()?);
        if bytes.len() != NONCE_LEN + 32 + 16 {
            return None;
        }
        let (nonce, sealed) = bytes.split_at_mut(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let plain = self.0.open_in_place(nonce, Aad::from(aad), sealed).ok()?;
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(plain);
        Some(key)
    }
}

fn random(buf: &mut [u8]) {
    SystemRandom::new()
        .fill(buf)
        .expect("the system's random source");
}

/// Decodes a base64 key of 32 bytes.
pub fn decode_key(text: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    let bytes = Zeroizing::new(
        B64.decode(text.trim())
            .map_err(|_| "a key must be base64".to_string())?,
    );
    if bytes.len() != 32 {
        return Err(format!("a key must be 32 bytes, not {}", bytes.len()));
    }
    Ok(bytes)
}

/// Where the master key comes from.
pub enum MasterSource {
    Key(Zeroizing<Vec<u8>>),
    /// Read from this file, or generated into it, when first needed.
    Generated(std::path::PathBuf),
    None,
}

/// The master key and the key ring, from the configuration.
pub struct KeyRing {
    source: MasterSource,
    master: std::sync::OnceLock<Option<Kek>>,
    /// Master keys replaced by the current one: they still open what they sealed.
    previous: Vec<Kek>,
    ring: BTreeMap<String, Kek>,
    default_id: Option<String>,
}

impl KeyRing {
    pub fn new(
        source: MasterSource,
        ring: &BTreeMap<String, String>,
        default_id: Option<&str>,
    ) -> Result<KeyRing, String> {
        let master = std::sync::OnceLock::new();
        if let MasterSource::Key(key) = &source {
            let _ = master.set(Some(Kek::new(key)?));
        }
        let ring = ring
            .iter()
            .map(|(id, key)| {
                let key = decode_key(key).map_err(|e| format!("kmsKeys.{id}: {e}"))?;
                Ok((id.clone(), Kek::new(&key)?))
            })
            .collect::<Result<BTreeMap<_, _>, String>>()?;
        if let Some(id) = default_id.filter(|id| !ring.contains_key(*id)) {
            return Err(format!("defaultKmsKeyId {id} is not in kmsKeys"));
        }
        Ok(KeyRing {
            source,
            master,
            previous: Vec::new(),
            ring,
            default_id: default_id.map(str::to_string),
        })
    }

    pub fn with_previous(mut self, keys: &[Zeroizing<Vec<u8>>]) -> Result<KeyRing, String> {
        self.previous = keys.iter().map(|k| Kek::new(k)).collect::<Result<_, _>>()?;
        Ok(self)
    }

    /// The ring's id of a key named by id, ARN (`arn:aws:kms:…:key/<id>`) or alias.
    fn ring_id(&self, named: &str) -> Option<String> {
        let id = named.rsplit_once(":key/").map_or(named, |(_, id)| id);
        let id = id.strip_prefix("alias/").unwrap_or(id);
        self.ring.contains_key(id).then(|| id.to_string())
    }

    /// A new data key for `seal`, and the record that recovers it.
    pub fn seal_new(&self, seal: &Seal) -> Result<(Sealed, Arc<DataKey>), Refusal> {
        let mut data_key = Zeroizing::new([0u8; 32]);
        random(data_key.as_mut());
        let mut sealed = Sealed {
            scheme: Scheme::Managed,
            key_id: None,
            context: None,
            bucket_key: false,
            dual_layer: false,
            key_check: None,
            data_key: String::new(),
        };
        match seal {
            Seal::Managed => {}
            Seal::KeyRing {
                key_id,
                context,
                bucket_key,
                dual_layer,
            } => {
                let id = match key_id {
                    Some(named) => self
                        .ring_id(named)
                        .ok_or_else(|| Refusal::UnknownKey(named.clone()))?,
                    None => self
                        .default_id
                        .clone()
                        .unwrap_or_else(|| MANAGED_KMS_ALIAS.to_string()),
                };
                sealed.scheme = Scheme::KeyRing;
                sealed.key_id = Some(id);
                sealed.context = context.clone();
                sealed.bucket_key = *bucket_key;
                sealed.dual_layer = *dual_layer;
            }
            Seal::Customer(key) => {
                sealed.scheme = Scheme::Customer;
                sealed.key_check = Some(key_check(key, None));
            }
        }
        let customer = match seal {
            Seal::Customer(key) => Some(key),
            _ => None,
        };
        let kek = self.kek(&sealed, customer)?;
        sealed.data_key = kek.wrap(&data_key, &wrap_aad(&sealed));
        Ok((sealed, Arc::new(DataKey::new(&data_key))))
    }

    /// The data key of a sealed object; a client key is needed exactly for SSE-C.
    pub fn open(
        &self,
        sealed: &Sealed,
        customer: Option<&CustomerKey>,
    ) -> Result<Arc<DataKey>, Refusal> {
        match (sealed.scheme, customer) {
            (Scheme::Customer, None) => return Err(Refusal::KeyNeeded),
            (Scheme::Customer, Some(key)) if !recognises(sealed, key) => {
                return Err(Refusal::WrongKey);
            }
            (Scheme::Managed | Scheme::KeyRing, Some(_)) => {
                return Err(Refusal::NotSealedWithKey);
            }
            _ => {}
        }
        let aad = wrap_aad(sealed);
        let kek = self.kek(sealed, customer);
        let unwrapped = match &kek {
            Ok(kek) => kek.unwrap(&sealed.data_key, &aad),
            Err(_) => None,
        };
        let under_master =
            sealed.scheme == Scheme::Managed || sealed.key_id.as_deref() == Some(MANAGED_KMS_ALIAS);
        let data_key = match unwrapped {
            Some(key) => key,
            None if under_master => self
                .previous
                .iter()
                .find_map(|old| old.unwrap(&sealed.data_key, &aad))
                .ok_or(kek.err().unwrap_or(Refusal::Tampered))?,
            None => return Err(kek.err().unwrap_or(Refusal::Tampered)),
        };
        Ok(Arc::new(DataKey::new(&data_key)))
    }

    fn kek(&self, sealed: &Sealed, customer: Option<&CustomerKey>) -> Result<Kek, Refusal> {
        let id = sealed.key_id.as_deref();
        match sealed.scheme {
            Scheme::Customer => {
                let key = customer.ok_or(Refusal::KeyNeeded)?;
                Ok(Kek::new(key.0.as_ref()).expect("a client key has 32 bytes"))
            }
            Scheme::KeyRing if id != Some(MANAGED_KMS_ALIAS) => {
                let id = id.unwrap_or_default();
                let kek = self
                    .ring
                    .get(id)
                    .ok_or_else(|| Refusal::UnknownKey(id.to_string()))?;
                Ok(Kek(kek.0.clone()))
            }
            _ => {
                let master = self.master.get_or_init(|| self.load_master());
                let master = master.as_ref().ok_or(Refusal::NoMasterKey)?;
                Ok(Kek(master.0.clone()))
            }
        }
    }

    fn load_master(&self) -> Option<Kek> {
        let MasterSource::Generated(path) = &self.source else {
            return None;
        };
        match super::setup::generated(path).and_then(|key| Kek::new(&key)) {
            Ok(kek) => Some(kek),
            Err(e) => {
                crate::log::warn(&format!("no master key for SSE-S3: {e}"));
                None
            }
        }
    }
}

/// Binds a wrapped data key to how it was wrapped (scheme, key id, context), so a
/// record edited to claim another key or context no longer opens.
fn wrap_aad(sealed: &Sealed) -> Vec<u8> {
    let scheme = match sealed.scheme {
        Scheme::Managed => "managed",
        Scheme::KeyRing => "key-ring",
        Scheme::Customer => "customer",
    };
    format!(
        "smartstorage/v1/{scheme}/{}/{}",
        sealed.key_id.as_deref().unwrap_or(""),
        sealed.context.as_deref().unwrap_or("")
    )
    .into_bytes()
}

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// `salt ‖ HMAC-SHA256(key, salt)`, base64: recognises a client key without storing it.
fn key_check(key: &CustomerKey, salt: Option<&[u8]>) -> String {
    let mut fresh = [0u8; 16];
    let salt = match salt {
        Some(salt) => salt,
        None => {
            random(&mut fresh);
            &fresh
        }
    };
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key.0.as_ref()).expect("any key size");
    mac.update(b"smartstorage sse-c key check");
    mac.update(salt);
    let mut out = salt.to_vec();
    out.extend_from_slice(&mac.finalize().into_bytes());
    B64.encode(out)
}

/// Whether `key` is the client key `sealed` was sealed under.
pub fn recognises(sealed: &Sealed, key: &CustomerKey) -> bool {
    use subtle::ConstantTimeEq;
    let Some(stored) = sealed.key_check.as_deref() else {
        return false;
    };
    let Some(salt) = B64.decode(stored).ok().filter(|b| b.len() > 16) else {
        return false;
    };
    key_check(key, Some(&salt[..16]))
        .as_bytes()
        .ct_eq(stored.as_bytes())
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> KeyRing {
        let mut keys = BTreeMap::new();
        keys.insert("k1".to_string(), B64.encode([3u8; 32]));
        KeyRing::new(
            MasterSource::Key(Zeroizing::new(vec![9u8; 32])),
            &keys,
            None,
        )
        .unwrap()
    }

    fn customer(byte: u8) -> CustomerKey {
        CustomerKey(Zeroizing::new([byte; 32]))
    }

    #[test]
    fn each_scheme_reopens_its_data_key() {
        let ring = ring();
        for seal in [
            Seal::Managed,
            Seal::KeyRing {
                key_id: Some("arn:aws:kms:us-east-1:1:key/k1".into()),
                context: Some("ctx".into()),
                bucket_key: true,
                dual_layer: true,
            },
            Seal::KeyRing {
                key_id: None,
                context: None,
                bucket_key: false,
                dual_layer: false,
            },
        ] {
            let (sealed, _) = ring.seal_new(&seal).unwrap();
            assert!(ring.open(&sealed, None).is_ok());
            assert_eq!(
                ring.open(&sealed, Some(&customer(1))).err(),
                Some(Refusal::NotSealedWithKey)
            );
        }
    }

    #[test]
    fn a_previous_master_key_still_opens_what_it_sealed() {
        let (sealed, _) = ring().seal_new(&Seal::Managed).unwrap();
        let rotated = KeyRing::new(
            MasterSource::Key(Zeroizing::new(vec![10u8; 32])),
            &BTreeMap::new(),
            None,
        )
        .unwrap();
        assert_eq!(rotated.open(&sealed, None).err(), Some(Refusal::Tampered));
        let rotated = rotated
            .with_previous(&[Zeroizing::new(vec![9u8; 32])])
            .unwrap();
        assert!(rotated.open(&sealed, None).is_ok());
    }

    #[test]
    fn a_client_key_is_recognised_and_never_stored() {
        let ring = ring();
        let (sealed, _) = ring.seal_new(&Seal::Customer(customer(5))).unwrap();
        let record = serde_json::to_string(&sealed).unwrap();
        assert!(!record.contains(&B64.encode([5u8; 32])));
        assert!(ring.open(&sealed, Some(&customer(5))).is_ok());
        assert_eq!(ring.open(&sealed, None).err(), Some(Refusal::KeyNeeded));
        assert_eq!(
            ring.open(&sealed, Some(&customer(6))).err(),
            Some(Refusal::WrongKey)
        );
    }

    #[test]
    fn an_unknown_ring_key_or_an_edited_record_is_refused() {
        let ring = ring();
        let unknown = Seal::KeyRing {
            key_id: Some("nope".into()),
            context: None,
            bucket_key: false,
            dual_layer: false,
        };
        assert_eq!(
            ring.seal_new(&unknown).err(),
            Some(Refusal::UnknownKey("nope".into()))
        );
        let (mut sealed, _) = ring
            .seal_new(&Seal::KeyRing {
                key_id: Some("k1".into()),
                context: Some("a".into()),
                bucket_key: false,
                dual_layer: false,
            })
            .unwrap();
        sealed.context = Some("b".into());
        assert_eq!(ring.open(&sealed, None).err(), Some(Refusal::Tampered));
    }
}
