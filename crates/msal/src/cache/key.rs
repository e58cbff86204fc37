//! Cache keys in the format of MSAL's unified schema, and the allocation-free partition hash
//! of the access-token lookup.
//!
//! Keys are the parts joined by `-` and lower-cased, as MSAL Python's `key_makers` build them:
//!
//! | section        | key                                                                    |
//! |----------------|------------------------------------------------------------------------|
//! | `AccessToken`  | `{home_account_id}-{environment}-accesstoken-{client_id}-{realm}-{target}` |
//! | (bound token)  | `{home_account_id}-{environment}-accesstoken_with_authscheme-{client_id}-{realm}-{target}-{token_type}` |
//! | `RefreshToken` | `{home_account_id}-{environment}-refreshtoken-{client_id}--{target}`   |
//! | `IdToken`      | `{home_account_id}-{environment}-idtoken-{client_id}-{realm}-`          |
//! | `Account`      | `{home_account_id}-{environment}-{realm}`                               |
//! | `AppMetadata`  | `appmetadata-{environment}-{client_id}` (not lower-cased)               |
//!
//! A refresh token has no realm (it is valid across tenants) and is keyed by the client id of
//! the app that received it, also for family (FOCI) tokens.

use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

// foldhash: hashbrown's default hasher, several times faster than SipHash on short keys and
// still seeded per process, so partitions cannot be flooded by chosen ids.
use foldhash::fast::RandomState;

/// `AccessToken`: the section and `credential_type` of access tokens.
pub(crate) const ACCESS_TOKEN: &str = "AccessToken";
/// The key part MSAL .NET writes instead of `accesstoken` for a token of another type than
/// `Bearer` (proof-of-possession, SSH certificate), whose type then ends the key.
pub(crate) const ACCESS_TOKEN_WITH_AUTH_SCHEME: &str = "AccessToken_With_AuthScheme";
/// `RefreshToken`: the section and `credential_type` of refresh tokens.
pub(crate) const REFRESH_TOKEN: &str = "RefreshToken";
/// `IdToken`: the section and `credential_type` of id tokens.
pub(crate) const ID_TOKEN: &str = "IdToken";
/// `Account`: the section of accounts.
pub(crate) const ACCOUNT: &str = "Account";
/// `AppMetadata`: the section of per-app metadata (the FOCI family).
pub(crate) const APP_METADATA: &str = "AppMetadata";

/// The type and key id of a bound token (proof-of-possession, SSH certificate).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BoundKey<'a> {
    /// `pop` or `ssh-cert`.
    pub token_type: &'a str,
    /// The key id.
    pub key_id: &'a str,
}

fn join_lower(parts: &[&str]) -> String {
    if !parts.iter().all(|p| p.is_ascii()) {
        return parts.join("-").to_lowercase();
    }
    // ASCII (every key this library writes for Entra ID): one allocation, lowered in place.
    let len = parts.iter().map(|p| p.len() + 1).sum::<usize>();
    let mut key = String::with_capacity(len);
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            key.push('-');
        }
        key.push_str(p);
    }
    key.make_ascii_lowercase();
    key
}

/// The key of an access token. `home_account_id` is `None` for app tokens. A token of another
/// type than `Bearer` is keyed as MSAL .NET keys it: `accesstoken_with_authscheme`, and its
/// type at the end (so it never replaces, nor is replaced by, the bearer token).
pub(crate) fn access_token(
    home_account_id: Option<&str>,
    environment: &str,
    client_id: &str,
    realm: &str,
    target: &str,
    token_type: &str,
) -> String {
    let bearer = token_type.is_empty() || token_type.eq_ignore_ascii_case("bearer");
    let home = home_account_id.unwrap_or("");
    if bearer {
        join_lower(&[home, environment, ACCESS_TOKEN, client_id, realm, target])
    } else {
        join_lower(&[
            home,
            environment,
            ACCESS_TOKEN_WITH_AUTH_SCHEME,
            client_id,
            realm,
            target,
            token_type,
        ])
    }
}

/// The key of a refresh token (no realm: refresh tokens are cross-tenant).
pub(crate) fn refresh_token(
    home_account_id: &str,
    environment: &str,
    client_id: &str,
    target: &str,
) -> String {
    join_lower(&[
        home_account_id,
        environment,
        REFRESH_TOKEN,
        client_id,
        "",
        target,
    ])
}

/// The key of an on-behalf-of session's token: the token's key and the session key
/// (`user_assertion_hash`), kept as given (session keys are case-sensitive), so that the
/// sessions of one user (one per incoming assertion, or per long-running process) do not
/// replace each other's access and refresh tokens.
pub(crate) fn in_session(mut key: String, user_assertion_hash: &str) -> String {
    key.push('-');
    key.push_str(user_assertion_hash);
    key
}

/// The key of an id token (an empty target, as the schema requires).
pub(crate) fn id_token(
    home_account_id: &str,
    environment: &str,
    client_id: &str,
    realm: &str,
) -> String {
    join_lower(&[home_account_id, environment, ID_TOKEN, client_id, realm, ""])
}

/// The key of an account.
pub(crate) fn account(home_account_id: &str, environment: &str, realm: &str) -> String {
    join_lower(&[home_account_id, environment, realm])
}

/// The key of an app's metadata. MSAL Python does not lower-case this one.
pub(crate) fn app_metadata(environment: &str, client_id: &str) -> String {
    format!("appmetadata-{environment}-{client_id}")
}

/// Whether `key` is [`app_metadata`]'s key, without building it.
pub(crate) fn is_app_metadata(key: &str, environment: &str, client_id: &str) -> bool {
    key.strip_prefix("appmetadata-")
        .and_then(|k| k.strip_prefix(environment))
        .and_then(|k| k.strip_prefix('-'))
        == Some(client_id)
}

/// The scopes of a response as MSAL writes them in `target`: sorted, joined by one space.
pub(crate) fn target(scopes: &[String]) -> String {
    let mut sorted: Vec<&str> = scopes
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    sorted.sort_unstable();
    sorted.join(" ")
}

/// Scopes the identity provider adds to every user token; a request for them says nothing
/// about which access token it wants, so matching ignores them.
pub(crate) fn is_reserved_scope(scope: &str) -> bool {
    ["offline_access", "openid", "profile"]
        .iter()
        .any(|r| r.eq_ignore_ascii_case(scope))
}

/// A 64-bit Bloom filter of one scope (ASCII case-insensitive, two bits set), so an access
/// token's scopes can be ruled out without reading them.
pub(crate) fn scope_bloom(scope: &str) -> u64 {
    // FNV-1a, then MurmurHash3's finalizer to spread the bits.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in scope.bytes() {
        h = (h ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    (1 << (h & 63)) | (1 << ((h >> 32) & 63))
}

/// The Bloom filter of the scopes a request must find, `None` when it names none but the
/// reserved ones (such a request matches no access token).
pub(crate) fn request_bloom(scopes: &[String]) -> Option<u64> {
    let mut bloom = 0;
    for scope in scopes {
        let scope = scope.trim();
        if !scope.is_empty() && !is_reserved_scope(scope) {
            bloom |= scope_bloom(scope);
        }
    }
    (bloom != 0).then_some(bloom)
}

/// Hashes the access-token partition `(home_account_id, client_id, realm)`, ASCII
/// case-insensitively and without allocating, so lookups need not lower-case their input.
///
/// `S` seeds the hash: a per-process random seed by default (the only one production uses). It
/// is a parameter so that the store's tests can hash every partition alike and check that
/// partitions sharing a hash stay apart.
#[derive(Clone)]
pub(crate) struct PartitionHasher<S = RandomState> {
    state: S,
}

impl Default for PartitionHasher {
    /// A hasher with a fresh per-process random seed.
    fn default() -> Self {
        PartitionHasher::with_state(RandomState::default())
    }
}

impl<S: BuildHasher> PartitionHasher<S> {
    /// A hasher seeded by `state`.
    pub(crate) fn with_state(state: S) -> Self {
        PartitionHasher { state }
    }

    /// The partition of `(home_account_id or "", client_id, realm)`.
    pub(crate) fn partition(&self, home_account_id: &str, client_id: &str, realm: &str) -> u64 {
        self.hash_parts([home_account_id, client_id, realm, ""], 3)
    }

    /// The key of `scope` in a partition's index by scope.
    pub(crate) fn scope(&self, scope: &str) -> u64 {
        self.hash_parts([scope, "", "", ""], 1)
    }

    /// Hashes the first `n` parts.
    fn hash_parts(&self, parts: [&str; 4], n: usize) -> u64 {
        let parts = &parts[..n];
        let mut h = self.state.build_hasher();
        // One write of `len, lowercase bytes` per part: length-prefixed, so no two partitions
        // feed the same bytes, and contiguous, since foldhash folds small separate writes.
        let mut buf = [0u8; 256];
        let total: usize = parts.iter().map(|p| p.len() + 2).sum();
        if total <= buf.len() {
            let mut at = 0;
            for p in parts {
                let len = u16::try_from(p.len()).unwrap_or(u16::MAX);
                buf[at..at + 2].copy_from_slice(&len.to_le_bytes());
                at += 2;
                for (o, b) in buf[at..at + p.len()].iter_mut().zip(p.bytes()) {
                    *o = b.to_ascii_lowercase();
                }
                at += p.len();
            }
            h.write(&buf[..at]);
        } else {
            for p in parts {
                h.write_usize(p.len());
                write_lower(&mut h, p);
            }
        }
        h.finish()
    }
}

/// Feeds `s` lower-cased (ASCII) to `h` through a stack buffer.
fn write_lower(h: &mut impl Hasher, s: &str) {
    let mut buf = [0u8; 64];
    for chunk in s.as_bytes().chunks(buf.len()) {
        let out = &mut buf[..chunk.len()];
        for (o, b) in out.iter_mut().zip(chunk) {
            *o = b.to_ascii_lowercase();
        }
        h.write(out);
    }
}

/// A hasher for keys that already are hashes.
#[derive(Clone, Copy, Default)]
pub(crate) struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The `BuildHasher` of maps keyed by a partition hash.
pub(crate) type BuildIdentity = BuildHasherDefault<IdentityHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_msal_python() {
        assert_eq!(
            access_token(
                Some("UID.UTID"),
                "login.microsoftonline.com",
                "CID",
                "Contoso",
                "User.Read",
                "Bearer"
            ),
            "uid.utid-login.microsoftonline.com-accesstoken-cid-contoso-user.read"
        );
        assert_eq!(
            access_token(None, "login.microsoftonline.com", "cid", "t", "s", ""),
            "-login.microsoftonline.com-accesstoken-cid-t-s"
        );
        assert_eq!(
            access_token(None, "login.microsoftonline.com", "cid", "t", "s", "pop"),
            "-login.microsoftonline.com-accesstoken_with_authscheme-cid-t-s-pop"
        );
        assert_eq!(
            refresh_token("u.t", "login.microsoftonline.com", "cid", "a b"),
            "u.t-login.microsoftonline.com-refreshtoken-cid--a b"
        );
        assert_eq!(
            id_token("u.t", "login.microsoftonline.com", "cid", "t"),
            "u.t-login.microsoftonline.com-idtoken-cid-t-"
        );
        assert_eq!(
            account("U.T", "login.microsoftonline.com", "T"),
            "u.t-login.microsoftonline.com-t"
        );
        assert_eq!(
            app_metadata("login.microsoftonline.com", "CID"),
            "appmetadata-login.microsoftonline.com-CID"
        );
    }

    #[test]
    fn keys_are_lowered_as_a_whole_in_ascii_and_otherwise() {
        for parts in [
            &[
                "UID.UTID",
                "Login.Microsoftonline.com",
                "AccessToken",
                "",
                "api://A/.Default",
            ][..],
            &["", "", ""],
            &["Ünïcode", "ΣΣ", "x"],
            &["aΣ", "Σb"],
        ] {
            assert_eq!(
                join_lower(parts),
                parts.join("-").to_lowercase(),
                "{parts:?}"
            );
        }
        assert!(is_app_metadata(
            &app_metadata("login.microsoftonline.com", "cid"),
            "login.microsoftonline.com",
            "cid"
        ));
        assert!(!is_app_metadata("appmetadata-login-cid-2", "login", "cid"));
        assert!(!is_app_metadata("appmetadata-login-cid", "login-cid", ""));
        assert!(!is_app_metadata("appmetadata-Login-cid", "login", "cid"));
    }

    #[test]
    fn target_is_sorted_and_space_joined() {
        let scopes = [
            "b".to_owned(),
            "A".to_owned(),
            " c ".to_owned(),
            String::new(),
        ];
        assert_eq!(target(&scopes), "A b c");
    }

    #[test]
    fn partition_hash_ignores_ascii_case_and_separates_parts() {
        let h = PartitionHasher::default();
        let long = "X".repeat(200);
        assert_eq!(
            h.partition("", "CID", &long),
            h.partition("", "cid", &long.to_lowercase())
        );
        assert_ne!(h.partition("", "ab", "c"), h.partition("", "a", "bc"));
        assert_ne!(h.partition("a", "", "c"), h.partition("", "a", "c"));
        assert_ne!(h.partition("", "", "ac"), h.partition("", "a", "c"));
        assert_eq!(
            h.partition(&long, "CID", &long),
            h.partition(&long.to_lowercase(), "cid", &long)
        );
        assert_ne!(h.partition(&long, "a", ""), h.partition(&long, "", "a"));
    }

    #[test]
    fn scope_blooms_ignore_case_and_reserved_scopes() {
        assert_eq!(scope_bloom("User.Read"), scope_bloom("user.read"));
        assert!((1..=2).contains(&scope_bloom("a").count_ones()));
        assert_eq!(request_bloom(&["openid".into(), "PROFILE".into()]), None);
        assert_eq!(
            request_bloom(&["openid".into(), "Mail.Read".into()]),
            Some(scope_bloom("mail.read"))
        );
    }
}
