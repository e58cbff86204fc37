//! Parsing rules of `Authority::parse` and `Authority::parse_oidc`.

use msal::ErrorKind;
use msal::authority::{Authority, AuthorityKind, AuthorityOptions};
use std::hash::BuildHasher;

use proptest::prelude::*;

fn strict() -> AuthorityOptions {
    AuthorityOptions::default()
}

fn loopback() -> AuthorityOptions {
    AuthorityOptions {
        allow_insecure_loopback: true,
    }
}

fn parse(s: &str) -> Authority {
    Authority::parse(s, &strict()).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn parse_err(s: &str, options: &AuthorityOptions) -> msal::Error {
    match Authority::parse(s, options) {
        Ok(a) => panic!("{s} parsed as {a}"),
        Err(e) => e,
    }
}

#[test]
fn every_cloud_host_is_an_entra_authority() {
    let hosts = [
        "login.microsoftonline.com",
        "login.microsoftonline.us",
        "login.partner.microsoftonline.cn",
        "login.chinacloudapi.cn",
        "login.microsoftonline.de",
        "login.windows.net",
        "login.microsoft.com",
        "sts.windows.net",
        "login.usgovcloudapi.net",
    ];
    for host in hosts {
        let a = parse(&format!("https://{host}/contoso.onmicrosoft.com/"));
        assert_eq!(a.kind(), AuthorityKind::Aad, "{host}");
        assert_eq!(a.host(), host);
        assert_eq!(a.tenant(), "contoso.onmicrosoft.com");
        assert_eq!(a.scheme(), "https");
        assert!(!a.is_loopback());
        assert!(!a.is_tenantless());
        assert_eq!(
            a.to_string(),
            format!("https://{host}/contoso.onmicrosoft.com")
        );
        assert_eq!(
            a.url().as_str(),
            format!("https://{host}/contoso.onmicrosoft.com")
        );
    }
}

#[test]
fn tenant_forms() {
    let guid = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    let a = parse(&format!("https://login.microsoftonline.com/{guid}"));
    assert_eq!(a.tenant(), guid);
    assert!(!a.is_tenantless());

    for t in [
        "common",
        "organizations",
        "consumers",
        "Common",
        "ORGANIZATIONS",
    ] {
        let a = parse(&format!("https://login.microsoftonline.com/{t}"));
        assert_eq!(a.kind(), AuthorityKind::Aad);
        assert!(a.is_tenantless(), "{t}");
        assert_eq!(a.tenant(), t, "kept as given");
    }
}

#[test]
fn trailing_slashes_and_extra_segments_are_normalised() {
    let a = parse("https://login.microsoftonline.com/contoso///");
    assert_eq!(a.to_string(), "https://login.microsoftonline.com/contoso");
    let b = parse("https://login.microsoftonline.com/contoso/v2.0");
    assert_eq!(b.to_string(), "https://login.microsoftonline.com/contoso");
    assert_eq!(a, b);
    let c = parse("https://login.microsoftonline.com/contoso/oauth2/v2.0/authorize");
    assert_eq!(c, a);
}

#[test]
fn tenant_is_case_insensitive_but_kept_as_given() {
    let a = parse("https://login.microsoftonline.com/Contoso.OnMicrosoft.com");
    let b = parse("https://LOGIN.microsoftonline.com/contoso.onmicrosoft.com/");
    assert_eq!(a, b);
    assert_eq!(a.tenant(), "Contoso.OnMicrosoft.com");
    assert_eq!(b.tenant(), "contoso.onmicrosoft.com");
    assert_eq!(b.host(), "login.microsoftonline.com");
    let state = std::hash::RandomState::new();
    assert_eq!(state.hash_one(&a), state.hash_one(&b));
    let other = parse("https://login.microsoftonline.com/fabrikam.onmicrosoft.com");
    assert_ne!(a, other);
    let other_cloud = parse("https://login.microsoftonline.us/contoso.onmicrosoft.com");
    assert_ne!(a, other_cloud);
}

#[test]
fn custom_domain_is_entra() {
    let a = parse("https://login.contoso.com/contoso.com");
    assert_eq!(a.kind(), AuthorityKind::Aad);
    assert_eq!(a.tenant(), "contoso.com");
}

#[test]
fn b2c_b2clogin_form() {
    let a =
        parse("https://fabrikamb2c.b2clogin.com/fabrikamb2c.onmicrosoft.com/B2C_1_SignUpSignIn/");
    assert_eq!(a.kind(), AuthorityKind::B2C);
    assert_eq!(a.tenant(), "fabrikamb2c.onmicrosoft.com");
    assert_eq!(
        a.to_string(),
        "https://fabrikamb2c.b2clogin.com/fabrikamb2c.onmicrosoft.com/B2C_1_SignUpSignIn"
    );
    assert!(!a.is_tenantless());
    // Any policy name on a b2clogin host; sovereign b2clogin hosts.
    let b = parse("https://x.b2clogin.cn/x.partner.onmschina.cn/my_flow");
    assert_eq!(b.kind(), AuthorityKind::B2C);
    // Extra segments after the policy are dropped.
    let c = parse("https://fabrikamb2c.b2clogin.com/fabrikamb2c.onmicrosoft.com/b2c_1_susi/v2.0");
    assert_eq!(
        c.to_string(),
        "https://fabrikamb2c.b2clogin.com/fabrikamb2c.onmicrosoft.com/b2c_1_susi"
    );
    // The policy is case-insensitive for comparison.
    assert_eq!(
        c,
        parse("https://fabrikamb2c.b2clogin.com/fabrikamb2c.onmicrosoft.com/B2C_1_SUSI")
    );
}

#[test]
fn b2c_tfp_form() {
    let a = parse("https://fabrikamb2c.b2clogin.com/tfp/fabrikamb2c.onmicrosoft.com/B2C_1_SUSI");
    assert_eq!(a.kind(), AuthorityKind::B2C);
    assert_eq!(a.tenant(), "fabrikamb2c.onmicrosoft.com");
    assert_eq!(
        a.to_string(),
        "https://fabrikamb2c.b2clogin.com/tfp/fabrikamb2c.onmicrosoft.com/B2C_1_SUSI"
    );
    let legacy = parse("https://login.microsoftonline.com/tfp/contoso.onmicrosoft.com/B2C_1_x");
    assert_eq!(legacy.kind(), AuthorityKind::B2C);
    assert_eq!(legacy.tenant(), "contoso.onmicrosoft.com");
}

#[test]
fn b2c_custom_domain_is_recognised_by_its_policy() {
    let a = parse("https://login.contoso.com/contoso.onmicrosoft.com/B2C_1_signin");
    assert_eq!(a.kind(), AuthorityKind::B2C);
    let b = parse("https://login.contoso.com/0f7b-tenant-id/b2c_1a_custom_policy");
    assert_eq!(b.kind(), AuthorityKind::B2C);
    assert_eq!(b.tenant(), "0f7b-tenant-id");
    // A second segment that is not a policy: Entra, the extra segment dropped.
    let c = parse("https://login.contoso.com/contoso.onmicrosoft.com/other");
    assert_eq!(c.kind(), AuthorityKind::Aad);
}

#[test]
fn b2c_without_a_policy_is_invalid() {
    for s in [
        "https://fabrikamb2c.b2clogin.com/fabrikamb2c.onmicrosoft.com",
        "https://fabrikamb2c.b2clogin.com/",
        "https://login.microsoftonline.com/tfp/contoso.onmicrosoft.com",
        "https://login.microsoftonline.com/tfp",
    ] {
        let e = parse_err(s, &strict());
        assert_eq!(e.kind(), ErrorKind::Client, "{s}");
        assert_eq!(e.code(), "invalid_authority", "{s}");
    }
}

#[test]
fn adfs() {
    let a = parse("https://fs.contoso.com/adfs/");
    assert_eq!(a.kind(), AuthorityKind::Adfs);
    assert_eq!(a.tenant(), "adfs");
    assert_eq!(a.to_string(), "https://fs.contoso.com/adfs");
    let b = parse("https://fs.contoso.com/ADFS/ls");
    assert_eq!(b.kind(), AuthorityKind::Adfs);
    assert_eq!(b.to_string(), "https://fs.contoso.com/ADFS");
    assert_eq!(a, b);
    assert!(!a.is_tenantless());
}

#[test]
fn ciam() {
    let a = parse("https://contoso.ciamlogin.com");
    assert_eq!(a.kind(), AuthorityKind::Ciam);
    assert_eq!(a.tenant(), "contoso.onmicrosoft.com");
    assert_eq!(
        a.to_string(),
        "https://contoso.ciamlogin.com/contoso.onmicrosoft.com"
    );
    let b = parse("https://contoso.ciamlogin.com/");
    assert_eq!(a, b);
    let guid = "aaaabbbb-0000-cccc-1111-dddd2222eeee";
    let c = parse(&format!("https://contoso.ciamlogin.com/{guid}"));
    assert_eq!(c.kind(), AuthorityKind::Ciam);
    assert_eq!(c.tenant(), guid);
    // The bare suffix is not a CIAM host.
    let e = parse_err("https://ciamlogin.com", &strict());
    assert_eq!(e.code(), "invalid_authority");
}

#[test]
fn oidc_issuers_keep_their_path() {
    let a = Authority::parse_oidc("https://accounts.google.com", &strict()).unwrap();
    assert_eq!(a.kind(), AuthorityKind::Oidc);
    assert_eq!(a.tenant(), "");
    assert_eq!(a.to_string(), "https://accounts.google.com");
    let b = Authority::parse_oidc("https://accounts.google.com/", &strict()).unwrap();
    assert_eq!(a, b);

    let c = Authority::parse_oidc("https://idp.example.com/realms/Main/v2.0/", &strict()).unwrap();
    assert_eq!(c.to_string(), "https://idp.example.com/realms/Main/v2.0");
    assert_eq!(c.tenant(), "realms");
    assert!(!c.is_tenantless());
    // The path of a generic issuer is compared exactly.
    let d = Authority::parse_oidc("https://idp.example.com/realms/main/v2.0", &strict()).unwrap();
    assert_ne!(c, d);
    // A generic OIDC authority is never equal to an Entra one with the same URL.
    let e = Authority::parse_oidc("https://login.microsoftonline.com/common", &strict()).unwrap();
    assert_ne!(e, parse("https://login.microsoftonline.com/common"));
    assert!(!e.is_tenantless());

    let err = Authority::parse_oidc("http://idp.example.com", &loopback()).unwrap_err();
    assert_eq!(err.code(), "insecure_authority");
    let err = Authority::parse_oidc("https://idp.example.com/?x=1", &strict()).unwrap_err();
    assert_eq!(err.code(), "invalid_authority");
}

#[test]
fn http_loopback_only_with_the_opt_in() {
    for s in [
        "http://127.0.0.1:41234/tenant",
        "http://127.8.9.10/tenant",
        "http://localhost:8080/tenant",
        "http://LOCALHOST/tenant",
        "http://[::1]:9000/tenant",
    ] {
        let e = parse_err(s, &strict());
        assert_eq!(e.kind(), ErrorKind::Client, "{s}");
        assert_eq!(e.code(), "insecure_authority", "{s}");
        assert!(e.description().contains("allow_insecure_loopback"), "{s}");

        let a = Authority::parse(s, &loopback()).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(a.scheme(), "http");
        assert!(a.is_loopback(), "{s}");
        assert_eq!(a.tenant(), "tenant");
    }
    let a = Authority::parse("http://127.0.0.1:41234/tenant/", &loopback()).unwrap();
    assert_eq!(a.host(), "127.0.0.1:41234");
    assert_eq!(a.to_string(), "http://127.0.0.1:41234/tenant");
    let v6 = Authority::parse("http://[::1]:9000/t", &loopback()).unwrap();
    assert_eq!(v6.host(), "[::1]:9000");
    // https on loopback needs no opt-in.
    let s = parse("https://localhost:8443/t");
    assert!(s.is_loopback());
    assert_eq!(s.host(), "localhost:8443");
}

#[test]
fn http_elsewhere_is_refused_even_with_the_opt_in() {
    for s in [
        "http://10.0.0.1/t",
        "http://login.microsoftonline.com/contoso",
        "http://localhost.example.com/t",
        "http://128.0.0.1/t",
        "http://[::2]/t",
    ] {
        for options in [strict(), loopback()] {
            let e = parse_err(s, &options);
            assert_eq!(e.kind(), ErrorKind::Client, "{s}");
            assert_eq!(e.code(), "insecure_authority", "{s}");
        }
    }
}

#[test]
fn bad_urls_are_invalid_authorities() {
    for s in [
        "",
        "   ",
        "login.microsoftonline.com/contoso",
        "not a url",
        "https://",
        "https:///contoso",
        "ftp://login.microsoftonline.com/contoso",
        "file:///etc/passwd",
        "https://login.microsoftonline.com",
        "https://login.microsoftonline.com/",
        "https://login.microsoftonline.com/contoso?slice=x",
        "https://login.microsoftonline.com/contoso?",
        "https://login.microsoftonline.com/contoso#frag",
        "https://user@login.microsoftonline.com/contoso",
        "https://user:pw@login.microsoftonline.com/contoso",
        "https://login.microsoftonline.com//contoso",
        "https://fs.contoso.com/",
        "https://[::1/t",
        "https://exa mple.com/t",
    ] {
        let e = parse_err(s, &loopback());
        assert_eq!(e.kind(), ErrorKind::Client, "{s:?}");
        assert_eq!(e.code(), "invalid_authority", "{s:?}: {e}");
    }
}

#[test]
fn surrounding_whitespace_is_ignored() {
    let a = parse("  https://login.microsoftonline.com/contoso \n");
    assert_eq!(a.to_string(), "https://login.microsoftonline.com/contoso");
}

#[test]
fn default_port_is_dropped() {
    let a = parse("https://login.microsoftonline.com:443/contoso");
    assert_eq!(a.host(), "login.microsoftonline.com");
    let b = parse("https://login.microsoftonline.com:8443/contoso");
    assert_eq!(b.host(), "login.microsoftonline.com:8443");
    assert_ne!(a, b);
}

#[test]
fn with_tenant_swaps_the_tenant_of_entra_authorities() {
    let common = parse("https://login.microsoftonline.us/common/");
    let home = common.with_tenant("72f988bf-86f1-41af-91ab-2d7cd011db47");
    assert_eq!(home.kind(), AuthorityKind::Aad);
    assert_eq!(
        home.to_string(),
        "https://login.microsoftonline.us/72f988bf-86f1-41af-91ab-2d7cd011db47"
    );
    assert_eq!(home.tenant(), "72f988bf-86f1-41af-91ab-2d7cd011db47");
    assert!(!home.is_tenantless());

    let local = Authority::parse("http://127.0.0.1:5000/organizations", &loopback()).unwrap();
    let t = local.with_tenant("contoso.onmicrosoft.com");
    assert_eq!(
        t.to_string(),
        "http://127.0.0.1:5000/contoso.onmicrosoft.com"
    );

    let ciam = parse("https://contoso.ciamlogin.com");
    let c = ciam.with_tenant("aaaabbbb-0000-cccc-1111-dddd2222eeee");
    assert_eq!(c.kind(), AuthorityKind::Ciam);
    assert_eq!(
        c.to_string(),
        "https://contoso.ciamlogin.com/aaaabbbb-0000-cccc-1111-dddd2222eeee"
    );
}

#[test]
fn with_tenant_leaves_other_kinds_and_bad_tenants_alone() {
    let b2c = parse("https://x.b2clogin.com/x.onmicrosoft.com/B2C_1_a");
    assert_eq!(b2c.with_tenant("other"), b2c);
    let adfs = parse("https://fs.contoso.com/adfs");
    assert_eq!(
        adfs.with_tenant("other").to_string(),
        "https://fs.contoso.com/adfs"
    );
    let oidc = Authority::parse_oidc("https://accounts.google.com", &strict()).unwrap();
    assert_eq!(oidc.with_tenant("other"), oidc);

    let common = parse("https://login.microsoftonline.com/common");
    for bad in ["", "a/b", "a?b", "a#b", "a b", "adfs", "ADFS", "tfp", "ü"] {
        let same = common.with_tenant(bad);
        assert_eq!(same.to_string(), common.to_string(), "{bad:?}");
        assert_eq!(same.kind(), AuthorityKind::Aad);
    }
}

proptest! {
    #[test]
    fn parse_never_panics_on_arbitrary_strings(s in ".*") {
        let _ = Authority::parse(&s, &strict());
        let _ = Authority::parse(&s, &loopback());
        let _ = Authority::parse_oidc(&s, &loopback());
    }

    #[test]
    fn parse_never_panics_on_url_like_strings(
        s in "(https?|ftp|HTTP)://[a-zA-Z0-9.:@\\[\\]%-]{0,24}(/[a-zA-Z0-9_.%?#=-]{0,12}){0,5}/?",
    ) {
        for options in [strict(), loopback()] {
            if let Ok(a) = Authority::parse(&s, &options) {
                // What parses is normalised: re-parsing its display gives the same authority.
                let again = Authority::parse(&a.to_string(), &options).unwrap();
                prop_assert_eq!(&again, &a);
                prop_assert!(!a.to_string().ends_with('/'));
                let _ = a.with_tenant("t");
            }
            let _ = Authority::parse_oidc(&s, &options);
        }
    }
}

#[test]
fn for_tenant_refuses_what_with_tenant_leaves_alone() {
    let common = parse("https://login.microsoftonline.com/common");
    let t = common.for_tenant("contoso.onmicrosoft.com").unwrap();
    assert_eq!(
        t.to_string(),
        "https://login.microsoftonline.com/contoso.onmicrosoft.com"
    );
    assert_eq!(common.for_tenant("common").unwrap(), common);
    for bad in ["", "a/b", "adfs", "tfp", "ü"] {
        let e = common.for_tenant(bad).unwrap_err();
        assert_eq!(
            (e.kind(), e.code()),
            (ErrorKind::Client, "invalid_authority")
        );
    }
    let b2c = parse("https://x.b2clogin.com/x.onmicrosoft.com/B2C_1_a");
    let oidc = Authority::parse_oidc("https://accounts.google.com", &strict()).unwrap();
    for other in [b2c, parse("https://fs.contoso.com/adfs"), oidc] {
        assert_eq!(
            other
                .for_tenant("contoso.onmicrosoft.com")
                .unwrap_err()
                .code(),
            "invalid_authority"
        );
    }
}
