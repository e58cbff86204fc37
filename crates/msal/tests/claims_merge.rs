//! `merge_claims`: claims requests merged with client capabilities, as MSAL does.

use msal::ErrorKind;
use msal::claims::merge_claims;
use serde_json::{Value, json};

fn caps(c: &[&str]) -> Vec<String> {
    c.iter().map(|s| (*s).to_owned()).collect()
}

fn json_of(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}

#[test]
fn nothing_to_send() {
    assert_eq!(merge_claims(None, &[]).unwrap(), None);
    assert_eq!(merge_claims(Some(""), &[]).unwrap(), None);
    assert_eq!(merge_claims(Some("  "), &[]).unwrap(), None);
}

#[test]
fn claims_without_capabilities_are_sent_unchanged() {
    let claims = r#"{"id_token": {"auth_time": {"essential": true}}}"#;
    assert_eq!(
        merge_claims(Some(claims), &[]).unwrap().as_deref(),
        Some(claims)
    );
}

#[test]
fn capabilities_alone() {
    assert_eq!(
        merge_claims(None, &caps(&["cp1"])).unwrap().as_deref(),
        Some(r#"{"access_token":{"xms_cc":{"values":["cp1"]}}}"#)
    );
    assert_eq!(
        merge_claims(Some(""), &caps(&["cp1", "llt"]))
            .unwrap()
            .as_deref(),
        Some(r#"{"access_token":{"xms_cc":{"values":["cp1","llt"]}}}"#)
    );
}

#[test]
fn a_cae_challenge_is_merged_into_access_token() {
    let challenge = r#"{"access_token":{"nbf":{"essential":true, "value":"1604106651"}}}"#;
    let merged = merge_claims(Some(challenge), &caps(&["cp1"]))
        .unwrap()
        .unwrap();
    assert_eq!(
        merged,
        r#"{"access_token":{"xms_cc":{"values":["cp1"]},"nbf":{"essential":true,"value":"1604106651"}}}"#
    );
}

#[test]
fn other_members_are_kept() {
    let claims = r#"{"id_token":{"auth_time":{"essential":true}},"userinfo":{"email":null}}"#;
    let merged = merge_claims(Some(claims), &caps(&["cp1", "cp2"]))
        .unwrap()
        .unwrap();
    assert_eq!(
        json_of(&merged),
        json!({
            "access_token": {"xms_cc": {"values": ["cp1", "cp2"]}},
            "id_token": {"auth_time": {"essential": true}},
            "userinfo": {"email": null},
        })
    );
    // Capabilities first, then the claims' members, in order.
    assert!(merged.starts_with(r#"{"access_token":"#), "{merged}");
    assert!(merged.find("id_token") < merged.find("userinfo"));
}

#[test]
fn arrays_are_unioned_and_values_of_the_claims_win() {
    let claims = r#"{"access_token":{"xms_cc":{"values":["cp2","cp1"],"essential":true},"acrs":{"essential":true,"value":"c1"}}}"#;
    let merged = merge_claims(Some(claims), &caps(&["cp1"]))
        .unwrap()
        .unwrap();
    assert_eq!(
        json_of(&merged),
        json!({"access_token": {
            "xms_cc": {"values": ["cp1", "cp2"], "essential": true},
            "acrs": {"essential": true, "value": "c1"},
        }})
    );
    // A scalar in the claims replaces the capability object; a null never replaces anything.
    let merged = merge_claims(Some(r#"{"access_token":{"xms_cc":null}}"#), &caps(&["cp1"]))
        .unwrap()
        .unwrap();
    assert_eq!(merged, r#"{"access_token":{"xms_cc":{"values":["cp1"]}}}"#);
    let merged = merge_claims(Some(r#"{"access_token":"x"}"#), &caps(&["cp1"]))
        .unwrap()
        .unwrap();
    assert_eq!(merged, r#"{"access_token":"x"}"#);
}

#[test]
fn invalid_claims_are_a_client_error() {
    for bad in [
        "not json",
        "{",
        r#"{"a":}"#,
        "[1,2]",
        "\"text\"",
        "42",
        "null",
    ] {
        for c in [caps(&[]), caps(&["cp1"])] {
            let e = merge_claims(Some(bad), &c).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Client, "{bad}");
            assert_eq!(e.code(), "invalid_claims", "{bad}");
        }
    }
}
