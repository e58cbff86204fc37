//! Redaction of secrets in recorded requests, for the copy of the request log the admin API
//! serves: field and header names stay, the values of secret ones become [`REDACTED`].

use serde_json::Value;

use crate::wire::RecordedRequest;

/// What a secret value is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Form fields, query parameters and JSON keys whose values are secrets: credentials the client
/// sends, and the tokens and codes the emulator answers with.
const SECRET_FIELDS: &[&str] = &[
    "client_secret",
    "password",
    "new_password",
    "mfa_code",
    "client_assertion",
    "assertion",
    "refresh_token",
    "access_token",
    "id_token",
    "id_token_hint",
    "code",
    "device_code",
    "code_verifier",
];

fn is_secret_field(name: &str) -> bool {
    SECRET_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(name))
}

/// Credentials and session headers (App Service's `X-IDENTITY-HEADER` among them), and any
/// header whose name says it carries one.
fn is_secret_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "authorization" | "proxy-authorization" | "cookie" | "set-cookie" | "x-identity-header"
    ) || ["secret", "token", "password", "api-key", "apikey"]
        .iter()
        .any(|w| n.contains(w))
}

/// Percent-encodes pairs as a form would, leaving the marker readable.
fn encode_pairs(pairs: &[(String, String)]) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    pairs
        .iter()
        .map(|(k, v)| {
            let v = if v == REDACTED { v.clone() } else { enc(v) };
            format!("{}={v}", enc(k))
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn redact_pairs(pairs: &[(String, String)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| {
            let v = if is_secret_field(k) { REDACTED } else { v };
            (k.clone(), v.to_string())
        })
        .collect()
}

/// An `application/x-www-form-urlencoded` text with its secret values redacted; `None` when it
/// holds none (the text is then kept exactly as received).
fn redact_urlencoded(s: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(s.as_bytes())
        .into_owned()
        .collect();
    pairs
        .iter()
        .any(|(k, _)| is_secret_field(k))
        .then(|| encode_pairs(&redact_pairs(&pairs)))
}

/// A URL (e.g. a `Location` header) with secret values of its query and fragment redacted.
fn redact_url(url: &str) -> String {
    let (before_fragment, fragment) = match url.split_once('#') {
        Some((a, f)) => (a, Some(f)),
        None => (url, None),
    };
    let mut out = match before_fragment.split_once('?') {
        Some((path, q)) => format!("{path}?{}", redact_urlencoded(q).unwrap_or(q.to_string())),
        None => before_fragment.to_string(),
    };
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(&redact_urlencoded(f).unwrap_or(f.to_string()));
    }
    out
}

/// Redacts the values of secret keys at any depth; true when something was redacted.
fn redact_json(v: &mut Value) -> bool {
    match v {
        Value::Object(map) => {
            let mut changed = false;
            for (k, val) in map.iter_mut() {
                if is_secret_field(k) && !val.is_null() {
                    *val = Value::String(REDACTED.into());
                    changed = true;
                } else {
                    changed |= redact_json(val);
                }
            }
            changed
        }
        Value::Array(items) => items.iter_mut().fold(false, |c, i| redact_json(i) | c),
        _ => false,
    }
}

/// Redacts `value="..."` of `<input name="{secret}" ...>` elements, as in the `form_post`
/// answer page that carries the code and the ID token.
fn redact_html_inputs(html: &str) -> String {
    let mut out = html.to_string();
    for field in SECRET_FIELDS {
        let needle = format!("name=\"{field}\" value=\"");
        let mut from = 0;
        while let Some(pos) = out[from..].find(&needle) {
            let start = from + pos + needle.len();
            let Some(len) = out[start..].find('"') else {
                break;
            };
            out.replace_range(start..start + len, REDACTED);
            from = start + REDACTED.len();
        }
    }
    out
}

/// A body (request or answer) with its secrets redacted: JSON keys, form fields, or the hidden
/// inputs of an HTML page.
fn redact_body(body: &str, is_form: bool) -> String {
    if is_form {
        return redact_urlencoded(body).unwrap_or_else(|| body.to_string());
    }
    if let Ok(mut v) = serde_json::from_str::<Value>(body) {
        return if redact_json(&mut v) {
            v.to_string()
        } else {
            body.to_string()
        };
    }
    redact_html_inputs(body)
}

/// `name=value; attributes` with the value redacted, for `Cookie` / `Set-Cookie`.
fn redact_cookie(value: &str, set_cookie: bool) -> String {
    let redact_one = |part: &str| match part.split_once('=') {
        Some((name, _)) => format!("{}={REDACTED}", name.trim()),
        None => REDACTED.to_string(),
    };
    if set_cookie {
        // Only the first pair is the cookie; the rest are its attributes (Path, Expires...).
        match value.split_once(';') {
            Some((first, attrs)) => format!("{};{attrs}", redact_one(first)),
            None => redact_one(value),
        }
    } else {
        value
            .split(';')
            .map(redact_one)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

fn redact_headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            let v = if k.eq_ignore_ascii_case("cookie") || k.eq_ignore_ascii_case("set-cookie") {
                redact_cookie(v, k.eq_ignore_ascii_case("set-cookie"))
            } else if is_secret_header(k) {
                // `Authorization: Bearer ...` keeps its scheme, which tells what was sent.
                match v.split_once(' ') {
                    Some((scheme, _)) => format!("{scheme} {REDACTED}"),
                    None => REDACTED.to_string(),
                }
            } else if k.eq_ignore_ascii_case("location") {
                redact_url(v)
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect()
}

impl RecordedRequest {
    /// This record with every secret replaced by `"[redacted]"`: the values of credential and
    /// token fields (`client_secret`, `password`, `client_assertion`, `assertion`,
    /// `refresh_token`, `code`, `device_code`, `code_verifier`, the tokens of an answer...) in
    /// the form, the body, the query and the answer, and of credential headers (`Authorization`,
    /// cookies, `Location` parameters). Names are kept. The admin API serves the log this way.
    pub fn redacted(&self) -> RecordedRequest {
        let is_form = !self.form.is_empty()
            || self.header("content-type").is_some_and(|v| {
                v.to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            });
        RecordedRequest {
            method: self.method.clone(),
            path: self.path.clone(),
            query: self
                .query
                .as_deref()
                .map(|q| redact_urlencoded(q).unwrap_or_else(|| q.to_string())),
            headers: redact_headers(&self.headers),
            form: redact_pairs(&self.form),
            body: redact_body(&self.body, is_form),
            status: self.status,
            response_body: redact_body(&self.response_body, false),
            response_headers: redact_headers(&self.response_headers),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> RecordedRequest {
        RecordedRequest {
            method: "POST".into(),
            path: "/t/oauth2/v2.0/token".into(),
            query: Some("a=1&code=abc".into()),
            headers: vec![
                ("authorization".into(), "Basic dXNlcjpwYXNz".into()),
                ("cookie".into(), "esession=s3cr3t; other=x".into()),
                ("x-api-key".into(), "k3y".into()),
                ("content-type".into(), "application/x-www-form-urlencoded".into()),
            ],
            form: vec![
                ("grant_type".into(), "password".into()),
                ("password".into(), "P@ss w0rd".into()),
            ],
            body: "grant_type=password&password=P%40ss+w0rd".into(),
            status: 200,
            response_body: r#"{"token_type":"Bearer","access_token":"at.x.y","nested":[{"refresh_token":"rt"}]}"#
                .into(),
            response_headers: vec![
                (
                    "location".into(),
                    "http://localhost/cb?code=c0de&state=s#id_token=j.w.t".into(),
                ),
                ("set-cookie".into(), "esession=s3cr3t; Path=/; HttpOnly".into()),
                ("x-ms-request-id".into(), "rid".into()),
            ],
        }
    }

    #[test]
    fn secrets_are_redacted_and_names_kept() {
        let r = record().redacted();
        let text = serde_json::to_string(&r).unwrap();
        for secret in [
            "abc",
            "dXNlcjpwYXNz",
            "s3cr3t",
            "k3y",
            "P@ss",
            "P%40ss",
            "at.x.y",
            "\"rt\"",
            "c0de",
            "j.w.t",
        ] {
            assert!(!text.contains(secret), "{secret} leaks in {text}");
        }
        assert_eq!(r.query.as_deref(), Some("a=1&code=[redacted]"));
        assert_eq!(r.header("authorization"), Some("Basic [redacted]"));
        assert_eq!(
            r.header("cookie"),
            Some("esession=[redacted]; other=[redacted]")
        );
        assert_eq!(r.form_value("password"), Some(REDACTED));
        assert_eq!(r.form_value("grant_type"), Some("password"));
        assert_eq!(r.body, "grant_type=password&password=[redacted]");
        let body: Value = serde_json::from_str(&r.response_body).unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["access_token"], REDACTED);
        assert_eq!(body["nested"][0]["refresh_token"], REDACTED);
        let headers = &r.response_headers;
        assert_eq!(
            headers[0].1,
            "http://localhost/cb?code=[redacted]&state=s#id_token=[redacted]"
        );
        assert_eq!(headers[1].1, "esession=[redacted]; Path=/; HttpOnly");
        assert_eq!(headers[2].1, "rid");
    }

    #[test]
    fn form_post_pages_and_plain_records_are_handled() {
        let html = r#"<form><input type="hidden" name="code" value="c0de"><input type="hidden" name="state" value="s"><input type="hidden" name="id_token" value="j.w.t"></form>"#;
        assert_eq!(
            redact_html_inputs(html),
            r#"<form><input type="hidden" name="code" value="[redacted]"><input type="hidden" name="state" value="s"><input type="hidden" name="id_token" value="[redacted]"></form>"#
        );
        // Nothing secret: the record is unchanged, byte for byte.
        let mut plain = record();
        plain.query = Some("x=%41".into());
        plain.headers.clear();
        plain.form.clear();
        plain.body = "{\"a\":  1}".into();
        plain.response_body = "not json <b>".into();
        plain.response_headers.clear();
        assert_eq!(plain.redacted(), plain);
    }

    #[test]
    fn managed_identity_secrets_are_secret_headers() {
        for h in ["X-IDENTITY-HEADER", "secret", "Authorization"] {
            assert!(super::is_secret_header(h), "{h}");
        }
        assert!(!super::is_secret_header("metadata"));
    }
}
