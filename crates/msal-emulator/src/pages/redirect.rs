//! The way back to the app: redirect URI matching, and the redirect (query, fragment or form
//! post) that carries the code or the error.

use crate::records::AuthParams;
use crate::wire::{AadErr, Ctx, Reply, html_escape as h};

use super::html::page;

/// Whether a redirect URI is registered; loopback `http` URIs match on any port.
pub(super) fn redirect_matches(registered: &[String], requested: &str) -> bool {
    let Ok(req) = url::Url::parse(requested) else {
        return false;
    };
    registered.iter().any(|r| {
        if r == requested {
            return true;
        }
        let Ok(reg) = url::Url::parse(r) else {
            return false;
        };
        let loopback = reg.scheme() == "http"
            && matches!(reg.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
        if loopback {
            req.scheme() == "http"
                && req.host_str() == reg.host_str()
                && req.path() == reg.path()
                && req.query() == reg.query()
        } else {
            reg == req
        }
    })
}

/// Builds the redirect back to the app, honouring `response_mode`.
pub(super) fn redirect_to_app(params: &AuthParams, pairs: &[(&str, String)]) -> Reply {
    let mut all: Vec<(&str, String)> = pairs.to_vec();
    if let Some(s) = &params.state {
        all.push(("state", s.clone()));
    }
    if let Some(iss) = &params.iss {
        all.push(("iss", iss.clone()));
    }
    match params.response_mode.as_deref() {
        Some("form_post") => {
            let inputs: String = all
                .iter()
                .map(|(k, v)| {
                    format!(
                        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                        h(k),
                        h(v)
                    )
                })
                .collect();
            Reply::html(
                200,
                format!(
                    "<!DOCTYPE html><html><head><title>Working...</title></head><body onload=\"document.forms[0].submit()\"><form method=\"POST\" name=\"hiddenform\" action=\"{}\">{inputs}<noscript><p>Script is disabled. Click Submit to continue.</p><button type=\"submit\" id=\"submit\">Submit</button></noscript></form></body></html>",
                    h(&params.redirect_uri)
                ),
            )
        }
        mode => {
            let Ok(mut url) = url::Url::parse(&params.redirect_uri) else {
                return Reply::html(
                    400,
                    page("Error", "<p id=\"error\">Invalid redirect URI.</p>"),
                );
            };
            if mode == Some("fragment") {
                let frag: String = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(all.iter().map(|(k, v)| (*k, v.as_str())))
                    .finish();
                url.set_fragment(Some(&frag));
            } else {
                url.query_pairs_mut()
                    .extend_pairs(all.iter().map(|(k, v)| (*k, v.as_str())));
            }
            Reply::redirect(url.as_str())
        }
    }
}

/// The redirect that carries an Entra error to the app.
pub(super) fn error_redirect(params: &AuthParams, ctx: &Ctx, err: &AadErr) -> Reply {
    let ts = Ctx::timestamp();
    redirect_to_app(
        params,
        &[
            ("error", err.oauth_error()),
            ("error_description", err.full_description(ctx, &ts)),
            ("error_uri", format!("{}error?code={}", ctx.base, err.code)),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirects_match_any_port() {
        let reg = vec![
            "http://localhost".to_string(),
            "https://app.example/cb".to_string(),
        ];
        assert!(redirect_matches(&reg, "http://localhost"));
        assert!(redirect_matches(&reg, "http://localhost:51234"));
        assert!(redirect_matches(&reg, "http://localhost:51234/"));
        assert!(!redirect_matches(&reg, "http://localhost:51234/other"));
        assert!(!redirect_matches(&reg, "http://127.0.0.1:51234"));
        assert!(redirect_matches(&reg, "https://app.example/cb"));
        assert!(!redirect_matches(&reg, "https://app.example:8443/cb"));
        assert!(!redirect_matches(&reg, "not a url"));
    }
}
