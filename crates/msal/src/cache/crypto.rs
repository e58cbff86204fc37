//! Encryption at rest of a cache file: a random 256-bit key kept in a [`KeyStore`] (the OS
//! secret store, with the `keyring` feature), and XChaCha20-Poly1305 over the file.
//!
//! An encrypted file is [`MAGIC`], a random 24-byte nonce, then the ciphertext of MSAL's JSON
//! with its 16-byte tag; the magic is also the associated data, so a file cut short, edited
//! or encrypted under another key fails to decrypt (a `cache_corrupt` error) instead of
//! reading as something else.

use std::error::Error as StdError;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::RngCore as _;
use zeroize::Zeroizing;

use crate::error::{Error, codes};

/// The first bytes of an encrypted cache file (never the start of a JSON text).
pub(crate) const MAGIC: &[u8] = b"\x00msal-rs:xchacha20poly1305:v1\x00";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// A 256-bit key that encrypts a cache file. Zeroed when dropped; its `Debug` shows no byte
/// of it.
#[derive(Clone)]
pub struct EncryptionKey(Zeroizing<[u8; 32]>);

impl EncryptionKey {
    /// A new random key, from the operating system's random source.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(bytes.as_mut());
        EncryptionKey(bytes)
    }

    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        EncryptionKey(Zeroizing::new(bytes))
    }

    /// The key's 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncryptionKey(<redacted>)")
    }
}

/// Why a [`KeyStore`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyStoreErrorKind {
    /// There is no secret store to use (a headless Linux without a Secret Service, a locked
    /// keychain): the [`EncryptionFallback`] decides what happens.
    Unavailable,
    /// The store is there but the operation failed: always an error.
    Failed,
}

/// The error of a [`KeyStore`] operation.
#[derive(Debug)]
pub struct KeyStoreError {
    kind: KeyStoreErrorKind,
    message: String,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl KeyStoreError {
    /// No secret store is available.
    pub fn unavailable(message: impl Into<String>) -> Self {
        KeyStoreError {
            kind: KeyStoreErrorKind::Unavailable,
            message: message.into(),
            source: None,
        }
    }

    /// The secret store failed.
    pub fn failed(message: impl Into<String>) -> Self {
        KeyStoreError {
            kind: KeyStoreErrorKind::Failed,
            message: message.into(),
            source: None,
        }
    }

    /// The same error with its underlying cause.
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// What kind of failure it is.
    pub fn kind(&self) -> KeyStoreErrorKind {
        self.kind
    }
}

impl fmt::Display for KeyStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for KeyStoreError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// Where the key of an encrypted cache file is kept: the OS secret store
/// (`KeyringKeyStore`, with the `keyring` feature) or memory
/// ([`MemoryKeyStore`]). Its calls may block (a D-Bus round trip); the file persistence makes
/// them off the async executor.
pub trait KeyStore: Send + Sync + fmt::Debug {
    /// The stored key, `None` when none is stored yet.
    ///
    /// # Errors
    ///
    /// [`KeyStoreErrorKind::Unavailable`] when there is no secret store to ask.
    fn load_key(&self) -> Result<Option<EncryptionKey>, KeyStoreError>;

    /// Stores `key`, replacing any stored key.
    ///
    /// # Errors
    ///
    /// [`KeyStoreErrorKind::Unavailable`] when there is no secret store to write to.
    fn store_key(&self, key: &EncryptionKey) -> Result<(), KeyStoreError>;
}

/// A key store in memory: for tests, and for processes that get their key some other way.
/// Clones share the key.
#[derive(Debug, Clone)]
pub struct MemoryKeyStore {
    key: Arc<Mutex<Option<EncryptionKey>>>,
    available: bool,
}

impl Default for MemoryKeyStore {
    fn default() -> Self {
        MemoryKeyStore::new()
    }
}

impl MemoryKeyStore {
    /// An empty store (a key is generated and stored on the first save).
    pub fn new() -> Self {
        MemoryKeyStore {
            key: Arc::new(Mutex::new(None)),
            available: true,
        }
    }

    /// A store holding `key`.
    pub fn with_key(key: EncryptionKey) -> Self {
        MemoryKeyStore {
            key: Arc::new(Mutex::new(Some(key))),
            available: true,
        }
    }

    /// A store that behaves as a missing secret store: every call fails with
    /// [`KeyStoreErrorKind::Unavailable`].
    pub fn unavailable() -> Self {
        MemoryKeyStore {
            key: Arc::new(Mutex::new(None)),
            available: false,
        }
    }

    /// The key stored, if any.
    pub fn key(&self) -> Option<EncryptionKey> {
        self.key
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl KeyStore for MemoryKeyStore {
    fn load_key(&self) -> Result<Option<EncryptionKey>, KeyStoreError> {
        if !self.available {
            return Err(KeyStoreError::unavailable("the in-memory key store is off"));
        }
        Ok(self.key())
    }

    fn store_key(&self, key: &EncryptionKey) -> Result<(), KeyStoreError> {
        if !self.available {
            return Err(KeyStoreError::unavailable("the in-memory key store is off"));
        }
        *self.key.lock().unwrap_or_else(PoisonError::into_inner) = Some(key.clone());
        Ok(())
    }
}

/// What an encrypted cache file does where no secret store exists (headless Linux, no
/// D-Bus session): the choice msal-extensions leaves to the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncryptionFallback {
    /// Fail every access with a `cache_persistence_error`.
    #[default]
    Fail,
    /// Keep the cache in plain text (mode `0600` on Unix), with a warning through `tracing`.
    PlainText,
}

/// Whether `data` is an encrypted cache file.
pub(crate) fn is_encrypted(data: &[u8]) -> bool {
    data.starts_with(MAGIC)
}

/// Encrypts MSAL's JSON into an encrypted file's bytes.
pub(crate) fn seal(key: &EncryptionKey, plaintext: &[u8]) -> Result<Vec<u8>, Error> {
    let cipher = XChaCha20Poly1305::new(&Key::from(*key.as_bytes()));
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let sealed = cipher
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plaintext,
                aad: MAGIC,
            },
        )
        .map_err(|_| {
            Error::client(
                codes::CACHE_PERSISTENCE,
                "the token cache could not be encrypted",
            )
        })?;
    let mut out = Vec::with_capacity(MAGIC.len() + NONCE_LEN + sealed.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Decrypts an encrypted file's bytes (which start with [`MAGIC`]).
pub(crate) fn open(key: &EncryptionKey, data: &[u8], what: &str) -> Result<Vec<u8>, Error> {
    let corrupt = |why: &str| {
        Error::client(
            codes::CACHE_CORRUPT,
            format!("the token cache file {what} is corrupt: {why}"),
        )
    };
    let rest = data
        .strip_prefix(MAGIC)
        .ok_or_else(|| corrupt("it is not an encrypted cache"))?;
    if rest.len() < NONCE_LEN + TAG_LEN {
        return Err(corrupt("it is cut short"));
    }
    let (nonce, sealed) = rest.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| corrupt("it is cut short"))?;
    let cipher = XChaCha20Poly1305::new(&Key::from(*key.as_bytes()));
    cipher
        .decrypt(
            &XNonce::from(nonce),
            Payload {
                msg: sealed,
                aad: MAGIC,
            },
        )
        .map_err(|_| {
            corrupt(
                "it does not decrypt with the key in the key store (edited, cut short, or \
                 encrypted under another key)",
            )
        })
}

#[cfg(feature = "keyring")]
pub use keyring_store::KeyringKeyStore;

#[cfg(feature = "keyring")]
mod keyring_store {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use zeroize::Zeroizing;

    use super::{EncryptionKey, KeyStore, KeyStoreError};

    /// The key of an encrypted cache file in the OS secret store (the Secret Service on Linux,
    /// the Keychain on macOS, the Credential Manager on Windows), through the `keyring` crate:
    /// one entry, `service` and `account`, holding the key in base64.
    #[derive(Debug, Clone)]
    pub struct KeyringKeyStore {
        service: String,
        account: String,
    }

    impl KeyringKeyStore {
        /// The entry `service`/`account` of the OS secret store.
        pub fn new(service: impl Into<String>, account: impl Into<String>) -> Self {
            KeyringKeyStore {
                service: service.into(),
                account: account.into(),
            }
        }

        fn entry(&self) -> Result<keyring::Entry, KeyStoreError> {
            keyring::Entry::new(&self.service, &self.account).map_err(classify)
        }
    }

    /// Errors that mean "there is no secret store to use" are `Unavailable`; the others are
    /// failures of a store that is there.
    fn classify(e: keyring::Error) -> KeyStoreError {
        match e {
            keyring::Error::NoDefaultStore
            | keyring::Error::NoStorageAccess(_)
            | keyring::Error::PlatformFailure(_)
            | keyring::Error::NotSupportedByStore(_) => {
                KeyStoreError::unavailable(format!("no OS secret store is available: {e}"))
                    .with_source(e)
            }
            other => KeyStoreError::failed(format!("the OS secret store failed: {other}"))
                .with_source(other),
        }
    }

    impl KeyStore for KeyringKeyStore {
        fn load_key(&self) -> Result<Option<EncryptionKey>, KeyStoreError> {
            let password = match self.entry()?.get_password() {
                Ok(p) => Zeroizing::new(p),
                Err(keyring::Error::NoEntry) => return Ok(None),
                Err(e) => return Err(classify(e)),
            };
            let bytes = Zeroizing::new(STANDARD.decode(password.trim()).map_err(|e| {
                KeyStoreError::failed("the key in the OS secret store is not base64").with_source(e)
            })?);
            let bytes: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                KeyStoreError::failed("the key in the OS secret store is not 32 bytes long")
            })?;
            Ok(Some(EncryptionKey::from_bytes(bytes)))
        }

        fn store_key(&self, key: &EncryptionKey) -> Result<(), KeyStoreError> {
            let encoded = Zeroizing::new(STANDARD.encode(key.as_bytes()));
            self.entry()?.set_password(&encoded).map_err(classify)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_data_opens_with_its_key_only() {
        let key = EncryptionKey::generate();
        let sealed = seal(&key, b"{\"AccessToken\": {}}").unwrap();
        assert!(is_encrypted(&sealed));
        assert!(!sealed.windows(11).any(|w| w == b"AccessToken"));
        assert_eq!(open(&key, &sealed, "f").unwrap(), b"{\"AccessToken\": {}}");
        // A fresh nonce each time.
        assert_ne!(seal(&key, b"x").unwrap(), seal(&key, b"x").unwrap());

        let other = EncryptionKey::generate();
        let e = open(&other, &sealed, "f").unwrap_err();
        assert_eq!(e.code(), codes::CACHE_CORRUPT);
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(
            open(&key, &flipped, "f").unwrap_err().code(),
            codes::CACHE_CORRUPT
        );
        for cut in [MAGIC.len(), MAGIC.len() + 30, sealed.len() - 1] {
            let e = open(&key, &sealed[..cut], "f").unwrap_err();
            assert_eq!(e.code(), codes::CACHE_CORRUPT, "cut at {cut}");
        }
        assert_eq!(format!("{key:?}"), "EncryptionKey(<redacted>)");
    }

    #[test]
    fn memory_key_store_keeps_one_key_or_is_unavailable() {
        let store = MemoryKeyStore::new();
        assert!(store.load_key().unwrap().is_none());
        let key = EncryptionKey::generate();
        store.store_key(&key).unwrap();
        assert_eq!(
            store.load_key().unwrap().unwrap().as_bytes(),
            key.as_bytes()
        );
        let off = MemoryKeyStore::unavailable();
        assert_eq!(
            off.load_key().unwrap_err().kind(),
            KeyStoreErrorKind::Unavailable
        );
        assert_eq!(
            off.store_key(&key).unwrap_err().kind(),
            KeyStoreErrorKind::Unavailable
        );
    }
}
