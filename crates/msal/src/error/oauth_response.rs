//! An identity provider's OAuth 2 error answer, as read from the wire, and the AADSTS numbers
//! in its description.

use http::HeaderMap;

/// An OAuth 2 error answer of an identity provider, in Entra's shape. Parse it with
/// [`OAuthErrorResponse::parse`], turn it into an [`Error`](super::Error) with
/// [`Error::from_oauth_error`](super::Error::from_oauth_error).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct OAuthErrorResponse {
    /// The OAuth `error` value.
    pub error: String,
    /// `error_description`.
    pub error_description: Option<String>,
    /// `error_codes` (AADSTS numbers).
    pub error_codes: Vec<u32>,
    /// `suberror`.
    pub suberror: Option<String>,
    /// `claims` (a claims challenge).
    pub claims: Option<String>,
    /// `trace_id`.
    pub trace_id: Option<String>,
    /// The correlation id: the `client-request-id` the library sent.
    pub correlation_id: Option<String>,
    /// `timestamp`.
    pub timestamp: Option<String>,
    /// The HTTP status.
    pub http_status: Option<u16>,
    /// The response headers.
    pub headers: Option<HeaderMap>,
}

impl OAuthErrorResponse {
    /// Parses an OAuth error body. Returns `None` when the body is not a JSON object with a
    /// string `error` (HTML, truncated JSON, a success body).
    pub fn parse(body: &[u8]) -> Option<Self> {
        #[derive(serde::Deserialize)]
        struct Wire {
            error: String,
            #[serde(default)]
            error_description: Option<String>,
            #[serde(default)]
            error_codes: Option<Vec<u32>>,
            #[serde(default)]
            suberror: Option<String>,
            #[serde(default)]
            claims: Option<String>,
            #[serde(default)]
            trace_id: Option<String>,
            #[serde(default)]
            correlation_id: Option<String>,
            #[serde(default)]
            timestamp: Option<String>,
        }
        let w: Wire = serde_json::from_slice(body).ok()?;
        if w.error.is_empty() {
            return None;
        }
        Some(OAuthErrorResponse {
            error: w.error,
            error_description: w.error_description,
            error_codes: w.error_codes.unwrap_or_default(),
            suberror: w.suberror,
            claims: w.claims,
            trace_id: w.trace_id,
            correlation_id: w.correlation_id,
            timestamp: w.timestamp,
            http_status: None,
            headers: None,
        })
    }
}

/// Finds every `AADSTSnnnn` number in a description, in order, without duplicates.
pub(crate) fn parse_aadsts_codes(description: &str) -> Vec<u32> {
    let mut out = Vec::new();
    let mut rest = description;
    while let Some(pos) = rest.find("AADSTS") {
        rest = &rest[pos + 6..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(n) = digits.parse::<u32>()
            && !out.contains(&n)
        {
            out.push(n);
        }
    }
    out
}
