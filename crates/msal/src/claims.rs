//! INTERFACE STUB: replaced by the claims implementation.
#![allow(missing_docs)]
use crate::error::Error;
pub fn merge_claims(claims: Option<&str>, client_capabilities: &[String]) -> Result<Option<String>, Error> {
    let _ = client_capabilities;
    Ok(claims.map(str::to_owned))
}
