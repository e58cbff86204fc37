//! The token cache's file format: MSAL's unified cache schema as MSAL Python writes it, and
//! the file persistence, through the public API.

use std::sync::Arc;

use msal::ErrorKind;
use msal::cache::{CachePersistence, FileCachePersistence, LoadOutcome, TokenCache};
use msal::error::codes;
use serde_json::Value;

/// A cache as MSAL Python 1.x's `SerializableTokenCache.serialize()` writes it after an
/// authorization-code sign-in of a family (FOCI) app and a client-credentials call, plus
/// what other MSALs add: unknown fields (`key_id`, `account_source`, `client_info`,
/// `ext_field`) and an unknown section.
const MSAL_PYTHON_CACHE: &str = r#"{
    "AccessToken": {
        "9f4880d8-80ba-4c40-97bc-f7a23c703084.f645ad92-e38d-4d1a-b510-d1b09a74a8ca-login.microsoftonline.com-accesstoken-04b07795-8ddb-461a-bbee-02f9e1bf7b46-f645ad92-e38d-4d1a-b510-d1b09a74a8ca-email openid profile user.read": {
            "credential_type": "AccessToken",
            "secret": "eyJ0eXAiOiJKV1QiLCJub25jZSI6Im4ifQ.eyJhdWQiOiIwMDAwMDAwMy0wMDAwLTAwMDAtYzAwMC0wMDAwMDAwMDAwMDAifQ.c2ln",
            "home_account_id": "9f4880d8-80ba-4c40-97bc-f7a23c703084.f645ad92-e38d-4d1a-b510-d1b09a74a8ca",
            "environment": "login.microsoftonline.com",
            "client_id": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
            "target": "email openid profile User.Read",
            "realm": "f645ad92-e38d-4d1a-b510-d1b09a74a8ca",
            "token_type": "Bearer",
            "cached_at": "1700000000",
            "expires_on": "1700004717",
            "extended_expires_on": "1700004717",
            "refresh_on": "1700002358",
            "key_id": "pop-key-1"
        },
        "-login.microsoftonline.com-accesstoken-04b07795-8ddb-461a-bbee-02f9e1bf7b46-f645ad92-e38d-4d1a-b510-d1b09a74a8ca-https://graph.microsoft.com/.default": {
            "credential_type": "AccessToken",
            "secret": "app-token",
            "home_account_id": null,
            "environment": "login.microsoftonline.com",
            "client_id": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
            "target": "https://graph.microsoft.com/.default",
            "realm": "f645ad92-e38d-4d1a-b510-d1b09a74a8ca",
            "token_type": "Bearer",
            "cached_at": "1700000000",
            "expires_on": "1700003599",
            "extended_expires_on": "1700003599"
        }
    },
    "Account": {
        "9f4880d8-80ba-4c40-97bc-f7a23c703084.f645ad92-e38d-4d1a-b510-d1b09a74a8ca-login.microsoftonline.com-f645ad92-e38d-4d1a-b510-d1b09a74a8ca": {
            "home_account_id": "9f4880d8-80ba-4c40-97bc-f7a23c703084.f645ad92-e38d-4d1a-b510-d1b09a74a8ca",
            "environment": "login.microsoftonline.com",
            "realm": "f645ad92-e38d-4d1a-b510-d1b09a74a8ca",
            "local_account_id": "9f4880d8-80ba-4c40-97bc-f7a23c703084",
            "username": "ren\u00e9e@contoso.com",
            "authority_type": "MSSTS",
            "account_source": "authorization_code",
            "client_info": "eyJ1aWQiOiI5ZjQ4ODBkOCIsInV0aWQiOiJmNjQ1YWQ5MiJ9"
        }
    },
    "IdToken": {
        "9f4880d8-80ba-4c40-97bc-f7a23c703084.f645ad92-e38d-4d1a-b510-d1b09a74a8ca-login.microsoftonline.com-idtoken-04b07795-8ddb-461a-bbee-02f9e1bf7b46-f645ad92-e38d-4d1a-b510-d1b09a74a8ca-": {
            "credential_type": "IdToken",
            "secret": "eyJhbGciOiJub25lIn0.eyJ0aWQiOiJmNjQ1YWQ5MiJ9.",
            "home_account_id": "9f4880d8-80ba-4c40-97bc-f7a23c703084.f645ad92-e38d-4d1a-b510-d1b09a74a8ca",
            "environment": "login.microsoftonline.com",
            "realm": "f645ad92-e38d-4d1a-b510-d1b09a74a8ca",
            "client_id": "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
        }
    },
    "RefreshToken": {
        "9f4880d8-80ba-4c40-97bc-f7a23c703084.f645ad92-e38d-4d1a-b510-d1b09a74a8ca-login.microsoftonline.com-refreshtoken-04b07795-8ddb-461a-bbee-02f9e1bf7b46--email openid profile user.read": {
            "credential_type": "RefreshToken",
            "secret": "0.AXEA-rt-secret",
            "home_account_id": "9f4880d8-80ba-4c40-97bc-f7a23c703084.f645ad92-e38d-4d1a-b510-d1b09a74a8ca",
            "environment": "login.microsoftonline.com",
            "client_id": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
            "target": "email openid profile User.Read",
            "last_modification_time": "1700000000",
            "family_id": "1",
            "ext_field": {"nested": [1, 2.5, null, true, {"deep": "x"}]}
        }
    },
    "AppMetadata": {
        "appmetadata-login.microsoftonline.com-04b07795-8ddb-461a-bbee-02f9e1bf7b46": {
            "client_id": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
            "environment": "login.microsoftonline.com",
            "family_id": "1"
        }
    },
    "SshCertificate": {
        "some-key": {"anything": ["goes", 1, {"here": null}], "big": 12345678901234567890}
    }
}"#;

fn parse(json: &str) -> Value {
    serde_json::from_str(json).unwrap()
}

#[test]
fn an_msal_python_cache_round_trips_untouched() {
    let cache = TokenCache::new();
    cache.deserialize(MSAL_PYTHON_CACHE).unwrap();
    let out = cache.serialize();
    assert_eq!(parse(&out), parse(MSAL_PYTHON_CACHE));
    // Stable: a second round trip gives the same text.
    let again = TokenCache::new();
    again.deserialize(&out).unwrap();
    assert_eq!(again.serialize(), out);
    // MSAL Python's layout: four-space indentation.
    assert!(
        out.starts_with("{\n    \"AccessToken\": {\n        \""),
        "{out}"
    );
}

/// Numbers that other MSALs (or a future schema) put in unknown fields keep their value: a
/// float reads and writes back to the same `f64` (found by the `cache_file` fuzz target, which
/// saw `220E22` come back as `2.1999999999999997e+24` before `float_roundtrip`).
#[test]
fn numbers_in_unknown_fields_keep_their_value() {
    let json = r#"{"Unknown": 220E22, "Other": {"a": 0.1, "b": 1.7976931348623157e308,
        "c": 5e-324, "d": -0.0, "e": 18446744073709551615, "f": -9223372036854775808,
        "g": 3.141592653589793, "h": 123456789.12345679}}"#;
    let cache = TokenCache::new();
    cache.deserialize(json).unwrap();
    let out = cache.serialize();
    assert_eq!(parse(&out), parse(json));
    let again = TokenCache::new();
    again.deserialize(&out).unwrap();
    assert_eq!(again.serialize(), out, "serialization is a fixed point");
}

#[test]
fn empty_and_present_sections_are_kept() {
    let cache = TokenCache::new();
    let json = r#"{"AccessToken": {}, "Account": {}, "Unknown": []}"#;
    cache.deserialize(json).unwrap();
    assert_eq!(parse(&cache.serialize()), parse(json));
    cache.deserialize("").unwrap();
    assert_eq!(cache.serialize(), "{}");
    cache.deserialize("{}").unwrap();
    assert_eq!(cache.serialize(), "{}");
}

#[test]
fn corrupt_caches_are_typed_errors() {
    let cache = TokenCache::new();
    cache.deserialize(MSAL_PYTHON_CACHE).unwrap();
    let before = cache.serialize();
    let truncated = &MSAL_PYTHON_CACHE[..MSAL_PYTHON_CACHE.len() / 2];
    let wrong_time = MSAL_PYTHON_CACHE.replace("\"1700003599\"", "[1700003599]");
    let wrong_secret = MSAL_PYTHON_CACHE.replace("\"app-token\"", "{}");
    let wrong_section = r#"{"RefreshToken": "x"}"#;
    let wrong_family = MSAL_PYTHON_CACHE.replace("\"family_id\": \"1\"", "\"family_id\": 1");
    for bad in [
        truncated,
        &wrong_time,
        &wrong_secret,
        wrong_section,
        &wrong_family,
        "42",
        "{\"IdToken\": {\"k\": \"v\"}}",
    ] {
        let e = cache.deserialize(bad).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Client);
        assert_eq!(e.code(), codes::CACHE_CORRUPT);
        assert!(!e.to_string().contains("0.AXEA"), "no secret in {e}");
        assert_eq!(cache.serialize(), before, "contents unchanged");
    }
}

#[test]
fn token_cache_is_cheap_shared_and_redacted() {
    fn assert_traits<T: Send + Sync + Clone + Default + std::fmt::Debug>() {}
    assert_traits::<TokenCache>();
    let cache = TokenCache::default();
    cache.deserialize(MSAL_PYTHON_CACHE).unwrap();
    let clone = cache.clone();
    cache.deserialize("").unwrap();
    assert_eq!(clone.serialize(), "{}", "clones share the contents");
    clone.deserialize(MSAL_PYTHON_CACHE).unwrap();
    let debug = format!("{cache:?}");
    assert!(debug.contains("access_tokens: 2"), "{debug}");
    for secret in ["eyJ", "app-token", "0.AXEA"] {
        assert!(!debug.contains(secret), "{debug}");
    }
}

#[tokio::test]
async fn file_persistence_reads_and_writes_msal_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a").join("b").join("msal_cache.json");
    let file = FileCachePersistence::new(&path);
    assert_eq!(file.path(), path);
    assert_eq!(file.load().await.unwrap(), None, "missing file");

    file.save(MSAL_PYTHON_CACHE.to_owned()).await.unwrap();
    assert_eq!(
        file.load().await.unwrap().as_deref(),
        Some(MSAL_PYTHON_CACHE)
    );
    let names: Vec<String> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["msal_cache.json"], "no temporary file left");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Versions: unchanged after our own save, changed after someone else's write.
    let version = file.save_versioned("{}".to_owned()).await.unwrap();
    assert!(version.is_some());
    assert!(matches!(
        file.load_if_changed(version).await.unwrap(),
        LoadOutcome::Unchanged
    ));
    std::fs::write(&path, MSAL_PYTHON_CACHE).unwrap();
    match file.load_if_changed(version).await.unwrap() {
        LoadOutcome::Loaded { data, version: v } => {
            assert_eq!(data.as_deref(), Some(MSAL_PYTHON_CACHE));
            assert!(v.is_some() && v != version);
        }
        other => panic!("expected a reload, got {other:?}"),
    }
    match file.load_if_changed(None).await.unwrap() {
        LoadOutcome::Loaded { data, .. } => assert!(data.is_some()),
        other => panic!("expected a load, got {other:?}"),
    }
}

#[tokio::test]
async fn a_cache_over_a_python_file_reads_it_and_keeps_it_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("msal_cache.bin");
    std::fs::write(&path, MSAL_PYTHON_CACHE).unwrap();
    let file = Arc::new(FileCachePersistence::new(&path));
    // What the cache would write back is what it read.
    let data = file.load().await.unwrap().unwrap_or_default();
    let cache = TokenCache::with_persistence(file.clone());
    cache.deserialize(&data).unwrap();
    file.save(cache.serialize()).await.unwrap();
    let written = std::fs::read_to_string(&path).unwrap();
    assert_eq!(parse(&written), parse(MSAL_PYTHON_CACHE));
}

#[tokio::test]
async fn a_file_with_a_byte_order_mark_or_nothing_is_readable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.json");
    std::fs::write(&path, "").unwrap();
    let file = FileCachePersistence::new(&path);
    let data = file.load().await.unwrap().unwrap();
    let cache = TokenCache::new();
    cache.deserialize(&data).unwrap();
    assert_eq!(cache.serialize(), "{}");
    std::fs::write(&path, format!("\u{feff}{MSAL_PYTHON_CACHE}")).unwrap();
    cache
        .deserialize(&file.load().await.unwrap().unwrap())
        .unwrap();
    assert_eq!(parse(&cache.serialize()), parse(MSAL_PYTHON_CACHE));
}
