//! Extra query parameters: what test slices and some deployments add to every request to the
//! identity provider (e.g. `dc=ESTS-PUB-WUS2-AZ1-FD000-TEST1`, `slice=testslice`), appended to
//! the query of the token, device code and authorize endpoints, never to a form. The app's own
//! go with every request; a request's own win over the app's on the same name.

use url::Url;

use crate::error::{Error, codes};

/// The parameters the library sets itself (in a form or in the authorize URL), which an extra
/// query parameter may not repeat: a second `client_id` or `grant_type` in the query would be
/// read by some servers instead of the form's, and MSAL .NET refuses such duplicates too.
const RESERVED: &[&str] = &[
    "client_id",
    "grant_type",
    "scope",
    "code",
    "code_verifier",
    "redirect_uri",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
    "refresh_token",
    "username",
    "password",
    "assertion",
    "requested_token_use",
    "device_code",
    "claims",
    "client_info",
    "response_type",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
];

/// Refuses an extra query parameter that the library sets itself, or one without a name: a
/// `Client` error `invalid_argument`.
pub(crate) fn check(params: &[(String, String)]) -> Result<(), Error> {
    for (name, _) in params {
        let name = name.trim();
        if name.is_empty() {
            return Err(Error::client(
                codes::INVALID_ARGUMENT,
                "an extra query parameter has an empty name",
            ));
        }
        if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name)) {
            return Err(Error::client(
                codes::INVALID_ARGUMENT,
                format!(
                    "the extra query parameter `{name}` is one the library sets itself; use the request's own option for it"
                ),
            ));
        }
    }
    Ok(())
}

/// The app's parameters then the request's, a request's own replacing the app's of the same
/// name (case-insensitive, as Entra reads names).
pub(crate) fn merge<'a>(
    app: &'a [(String, String)],
    request: &'a [(String, String)],
) -> Vec<(&'a str, &'a str)> {
    app.iter()
        .filter(|(k, _)| !request.iter().any(|(r, _)| r.eq_ignore_ascii_case(k)))
        .chain(request)
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// `url` with `params` appended to its query (the URL itself, not a copy, when there are
/// none: the common case, on every token request).
pub(crate) fn append<'u>(url: &'u Url, params: &[(&str, &str)]) -> std::borrow::Cow<'u, Url> {
    if params.is_empty() {
        return std::borrow::Cow::Borrowed(url);
    }
    let mut url = url.clone();
    url.query_pairs_mut().extend_pairs(params);
    std::borrow::Cow::Owned(url)
}

/// The parameters as one string, for the identity of a request (throttling, single-flight):
/// requests to different slices are different requests.
pub(crate) fn identity(params: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    s.extend_pairs(params);
    s.finish()
}

/// Collects the caller's pairs.
pub(crate) fn collect<I, K, V>(params: I) -> impl Iterator<Item = (String, String)>
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    params.into_iter().map(|(k, v)| (k.into(), v.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reserved_and_nameless_parameters_are_refused() {
        for bad in ["client_id", "Grant_Type", " scope ", "client_assertion", ""] {
            let e = check(&p(&[("dc", "x"), (bad, "y")])).unwrap_err();
            assert_eq!(e.code(), codes::INVALID_ARGUMENT, "{bad:?}");
            assert_eq!(e.kind(), crate::ErrorKind::Client);
        }
        check(&p(&[("dc", "x"), ("slice", "testslice")])).unwrap();
    }

    #[test]
    fn a_request_parameter_wins_over_the_app_one_of_the_same_name() {
        let app = p(&[("dc", "app"), ("slice", "s")]);
        let req = p(&[("DC", "req")]);
        assert_eq!(merge(&app, &req), vec![("slice", "s"), ("DC", "req")]);
        let url = Url::parse("https://h/t/oauth2/v2.0/token").unwrap();
        assert_eq!(
            append(&url, &merge(&app, &req)).as_str(),
            "https://h/t/oauth2/v2.0/token?slice=s&DC=req"
        );
        assert_eq!(append(&url, &[]).as_str(), url.as_str());
    }
}
