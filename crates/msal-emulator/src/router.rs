//! The emulator's routes: one per endpoint, with its handler and, on the endpoints fault rules
//! can name, the fault layer. The public endpoints share the request-log layers; the admin API
//! has its guard instead.
//!
//! Paths here are canonical (see `route.rs`): the intake layer in front of this router has
//! already mapped what the client sent (any case, trailing slash or not) to them.

use std::sync::Arc;

use axum::handler::Handler;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{MethodRouter, any};
use axum::{Extension, Router};
use http::Method;
use serde_json::json;
use tower::Layer;

use crate::faults::Endpoint;
use crate::middleware::{FaultPoint, correlate, inject_faults, intake, record, sever};
use crate::shared::Shared;
use crate::wire::{AadErr, Ctx, Incoming, Reply};
use crate::{admin, api, identity, metadata, pages, token};

/// The whole application: the intake layer around the router (around it, not inside, since
/// it rewrites the path the router matches). The outer router, with no routes of its own,
/// only adapts the server's request bodies.
pub(crate) fn app(shared: Arc<Shared>) -> Router {
    Router::new().fallback_service(from_fn(intake).layer(router(shared)))
}

/// The Service Fabric listener's application: its managed identity endpoint alone, with the
/// public endpoints' layers.
pub(crate) fn service_fabric_app(shared: Arc<Shared>) -> Router {
    let routes = Router::new()
        .route(
            "/msi/service-fabric/token",
            get_only(identity::service_fabric).layer(from_fn_with_state(
                FaultPoint {
                    shared: shared.clone(),
                    endpoint: Endpoint::ServiceFabric,
                },
                inject_faults,
            )),
        )
        .fallback(not_found);
    let routes = with_public_layers(routes, &shared).with_state(shared);
    Router::new().fallback_service(from_fn(intake).layer(routes))
}

/// The layers of the public endpoints. Outermost last: sever, then record, then correlate,
/// then each route's own layers.
fn with_public_layers(routes: Router<Arc<Shared>>, shared: &Arc<Shared>) -> Router<Arc<Shared>> {
    routes
        .layer(from_fn_with_state(shared.clone(), correlate))
        .layer(from_fn_with_state(shared.clone(), record))
        .layer(from_fn(sever))
}

/// The routes.
fn router(shared: Arc<Shared>) -> Router {
    let faults = |endpoint| {
        from_fn_with_state(
            FaultPoint {
                shared: shared.clone(),
                endpoint,
            },
            inject_faults,
        )
    };
    let public = Router::new()
        .route("/", get_only(pages::index))
        .route("/error", get_only(pages::error_code_page))
        .route("/devicelogin", any(pages::devicelogin))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get_only(metadata::discovery).layer(faults(Endpoint::Discovery)),
        )
        .route(
            "/{tenant}/discovery/instance",
            get_only(metadata::instance_discovery).layer(faults(Endpoint::InstanceDiscovery)),
        )
        .route(
            "/{tenant}/discovery/v2.0/keys",
            get_only(metadata::keys).layer(faults(Endpoint::Keys)),
        )
        .route(
            "/{tenant}/userrealm/{username}",
            get_only(metadata::user_realm),
        )
        .route(
            "/{tenant}/oauth2/v2.0/token",
            post_only(token::token).layer(faults(Endpoint::Token)),
        )
        .route(
            "/{tenant}/oauth2/v2.0/devicecode",
            post_only(token::devicecode).layer(faults(Endpoint::DeviceCode)),
        )
        .route(
            "/{tenant}/oauth2/v2.0/authorize",
            any(pages::authorize).layer(faults(Endpoint::Authorize)),
        )
        .route("/{tenant}/oauth2/v2.0/logout", any(pages::logout))
        .route("/api/me", get_only(api::me).layer(faults(Endpoint::Api)))
        .route(
            "/metadata/identity/oauth2/token",
            get_only(identity::imds).layer(faults(Endpoint::Imds)),
        )
        .route(
            "/metadata/instance/compute/location",
            get_only(identity::location),
        )
        .route(
            "/msi/app-service/token",
            get_only(identity::app_service).layer(faults(Endpoint::AppService)),
        )
        .route(
            "/msi/azure-ml/token",
            get_only(identity::azure_ml).layer(faults(Endpoint::AzureMl)),
        )
        .route(
            "/msi/cloud-shell/token",
            post_only(identity::cloud_shell).layer(faults(Endpoint::CloudShell)),
        )
        .route(
            "/msi/arc/token",
            get_only(identity::arc).layer(faults(Endpoint::Arc)),
        )
        .route(
            "/federation/.well-known/openid-configuration",
            get_only(identity::federation_discovery).layer(faults(Endpoint::Federation)),
        )
        .route(
            "/federation/jwks",
            get_only(identity::federation_keys).layer(faults(Endpoint::Federation)),
        )
        .fallback(not_found);
    let public = with_public_layers(public, &shared);
    let admin = Router::new()
        .route("/_emulator", admin_route())
        .route("/_emulator/{*rest}", admin_route())
        .route(
            "/_emulator/faults",
            admin_route()
                .get(admin::list_faults)
                .post(admin::add_fault)
                .delete(admin::clear_faults),
        )
        .route(
            "/_emulator/faults/presets",
            // DELETE: the id "presets" is refused as not a number.
            admin_route()
                .get(admin::presets)
                .delete(admin::remove_fault),
        )
        .route(
            "/_emulator/faults/{*id}",
            admin_route().delete(admin::remove_fault),
        )
        .route(
            "/_emulator/requests",
            admin_route()
                .get(admin::requests)
                .delete(admin::clear_requests),
        )
        .route(
            "/_emulator/devicecode/approve",
            admin_route().post(admin::approve_device_code),
        )
        .route(
            "/_emulator/devicecode/deny",
            admin_route().post(admin::deny_device_code),
        )
        .route(
            "/_emulator/users",
            admin_route().get(admin::users).post(admin::save_user),
        )
        .route(
            "/_emulator/refresh-tokens/revoke",
            admin_route().post(admin::revoke_refresh_tokens),
        )
        .route(
            "/_emulator/apps",
            admin_route().get(admin::apps).post(admin::save_app),
        )
        .route("/_emulator/settings", admin_route().post(admin::settings))
        .route(
            "/_emulator/federation/token",
            admin_route().post(identity::service_account_token),
        )
        .layer(from_fn_with_state(shared.clone(), admin::authorize));
    public.merge(admin).with_state(shared)
}

/// A `GET` endpoint (`HEAD` too); other methods get AADSTS900561 with status 405. (Built on
/// `any` so that axum adds no `Allow` header: Entra sends none.)
fn get_only<H, T>(handler: H) -> MethodRouter<Arc<Shared>>
where
    H: Handler<T, Arc<Shared>>,
    T: 'static,
{
    any(refuse_non_get).get(handler)
}

/// A `POST` endpoint; other methods get AADSTS900561.
fn post_only<H, T>(handler: H) -> MethodRouter<Arc<Shared>>
where
    H: Handler<T, Arc<Shared>>,
    T: 'static,
{
    any(refuse_non_post).post(handler)
}

/// An admin endpoint: methods it does not list (`HEAD` included) are not found.
fn admin_route() -> MethodRouter<Arc<Shared>> {
    any(admin::not_found).head(admin::not_found)
}

async fn refuse_non_get(method: Method, Extension(ctx): Extension<Ctx>) -> Reply {
    AadErr::new(900561)
        .desc(format!(
            "The endpoint only accepts GET requests. Received a {method} request."
        ))
        .status(405)
        .reply(&ctx)
}

async fn refuse_non_post(method: Method, Extension(ctx): Extension<Ctx>) -> Reply {
    AadErr::new(900561)
        .desc(format!(
            "The endpoint only accepts POST, OPTIONS requests. Received a {method} request."
        ))
        .reply(&ctx)
}

/// Every path no route has.
async fn not_found(
    Extension(ctx): Extension<Ctx>,
    Extension(inc): Extension<Arc<Incoming>>,
) -> Reply {
    Reply::json(
        404,
        &json!({
            "error": "not_found",
            "error_description": format!("The emulator does not serve {}.", inc.path),
            "trace_id": ctx.trace_id,
            "correlation_id": ctx.correlation_id,
        }),
    )
}
