//! What storage knows of encryption at rest: how a new object is to be sealed, the
//! client key that opens one, the record kept with a sealed object, and the byte
//! filter a writer runs. The encrypting layer (`crate::encryption`) gives these their
//! meaning; plain stores only keep the record and run the filter.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// How a new object's bytes are to be encrypted at rest.
#[derive(Clone, Debug)]
pub enum Seal {
    /// Under the server's master key.
    Managed,
    /// Under a key of the local key ring (the default one when `key_id` is none), with
    /// an encryption context bound to it. `dual_layer` records that the client asked for
    /// DSSE-KMS (`aws:kms:dsse`), which is answered as such; the bytes get one layer.
    KeyRing {
        key_id: Option<String>,
        context: Option<String>,
        bucket_key: bool,
        dual_layer: bool,
    },
    /// Under the client's own key, which is never stored.
    Customer(CustomerKey),
}

/// A client's 256-bit key, wiped from memory when dropped.
#[derive(Clone)]
pub struct CustomerKey(pub Zeroizing<[u8; 32]>);

impl std::fmt::Debug for CustomerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CustomerKey(..)")
    }
}

/// Which kind of key a sealed object's data key is wrapped under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Scheme {
    Managed,
    KeyRing,
    Customer,
}

/// Kept with a sealed object (and an encrypted upload): what recovers its data key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sealed {
    pub scheme: Scheme,
    /// The key ring's key, by its configured id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The encryption context bound to the data key, as the client gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bucket_key: bool,
    /// Asked for as DSSE-KMS (`aws:kms:dsse`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dual_layer: bool,
    /// A salted keyed hash that recognises the client's key (never the key itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_check: Option<String>,
    /// The object's own data key, encrypted under the scheme's key (base64).
    pub data_key: String,
}

/// Turns a body's bytes into the bytes stored. A writer runs it on its own thread,
/// after hashing the bytes it was given.
pub trait ByteFilter: Send + 'static {
    fn update(&mut self, input: &[u8], out: &mut Vec<u8>) -> std::io::Result<()>;
    /// The bytes still held back, at the end.
    fn finish(&mut self, out: &mut Vec<u8>) -> std::io::Result<()>;
}

/// What a body being received will become, so that it can be sealed as it arrives.
#[derive(Clone, Copy)]
pub enum BodyOf<'a> {
    Object(Option<&'a Seal>),
    Part(&'a super::interface::UploadRef, Option<&'a CustomerKey>),
}

/// Why sealed bytes could not be written or read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The object is sealed under a client key and none was given.
    KeyNeeded,
    /// The client key given does not open the object.
    WrongKey,
    /// A client key was given for an object not sealed under one.
    NotSealedWithKey,
    /// A part of an upload sealed under a client key came without it.
    PartKeyNeeded,
    /// A part came with another client key than its upload's.
    PartKeyMismatch,
    /// A part came with a client key for an upload not sealed under one.
    PartKeyUnexpected,
    /// The key ring has no such key.
    UnknownKey(String),
    /// No master key is configured where one must be.
    NoMasterKey,
    /// The stored bytes fail their authentication: changed on disk.
    Tampered,
    /// This store cannot encrypt (it is not under the encrypting layer).
    Unsupported,
}

/// For a store that cannot encrypt: refuses a seal or a key handed to it.
pub fn plain_only(asked: bool) -> super::Result<()> {
    match asked {
        true => Err(super::Error::Sealing(Refusal::Unsupported)),
        false => Ok(()),
    }
}
