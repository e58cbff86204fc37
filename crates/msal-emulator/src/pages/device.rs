//! The device login page: the user enters the code shown on the device, then signs in.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State as AxState;

use crate::records::{DeviceStatus, Txn, TxnKind};
use crate::shared::Shared;
use crate::state::{now_secs, random_token};
use crate::wire::{Ctx, Incoming, Reply};

use super::flow::advance;
use super::html::device_code_page;
use super::steps::handle_step;

/// `GET|POST /devicelogin`.
pub(crate) async fn devicelogin(
    AxState(shared): AxState<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Extension(inc): Extension<Arc<Incoming>>,
) -> Reply {
    let (shared, ctx, inc) = (&*shared, &ctx, &*inc);
    if inc.method == http::Method::GET {
        return device_code_page(inc.q("user_code").or(inc.q("otc")).unwrap_or(""), None);
    }
    if inc.f("txn").is_some() {
        return handle_step(shared, ctx, inc, "/devicelogin");
    }
    let mut st = shared.st();
    st.purge();
    let entered = inc.f("user_code").or(inc.f("otc")).unwrap_or_default();
    let Some((device_code, grant)) = st.device_by_user_code(entered) else {
        return device_code_page(
            entered,
            Some("That code didn't work. Check the code and try again. (AADSTS70018)"),
        );
    };
    if grant.expires_at <= std::time::Instant::now() {
        return device_code_page(
            entered,
            Some(
                "That code has expired. Get a new code from your device and try again. (AADSTS70019)",
            ),
        );
    }
    if grant.status != DeviceStatus::Pending {
        return device_code_page(entered, Some("That code was already used."));
    }
    let txn_id = random_token(24);
    st.txns.insert(
        txn_id.clone(),
        Txn {
            kind: TxnKind::Device { device_code },
            tenant_seg: grant.tenant_seg.clone(),
            client_id: grant.client_id.clone(),
            scope: grant.scope.clone(),
            username: None,
            mfa_done: false,
            consent_done: false,
            account_chosen: false,
            created: now_secs(),
        },
    );
    advance(&mut st, ctx, inc, &txn_id, "/devicelogin")
}
