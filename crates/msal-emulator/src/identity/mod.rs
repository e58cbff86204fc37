//! The managed identity sources (IMDS, App Service, Service Fabric, Azure ML, Cloud Shell,
//! Azure Arc) and the service account issuer of workload identity federation.
//!
//! Layers, lowest first: `source` (what tells the sources apart: headers, parameters, the
//! shapes of answers and errors), `arc` (Azure Arc's key file challenge), `serve` (the
//! handlers), `federation` (the service account issuer).

mod arc;
mod federation;
mod serve;
mod source;

pub(crate) use self::federation::{
    federation_discovery, federation_keys, service_account_token, sign_service_account_token,
};
pub(crate) use self::serve::{
    app_service, arc, azure_ml, cloud_shell, imds, location, service_fabric,
};
