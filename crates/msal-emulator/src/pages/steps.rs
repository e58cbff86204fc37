//! The sign-in pages' form posts: one function per page, each recording in the transaction
//! what the user did there (or showing the page again with an error); then the flow moves on.

use crate::records::{DeviceStatus, Txn, TxnKind};
use crate::shared::Shared;
use crate::state::{State, TenantSel};
use crate::wire::{AadErr, Ctx, Incoming, Reply};

use super::flow::{SESSION_COOKIE, advance};
use super::html::{device_declined_page, expired_txn, login_page, mfa_page, password_page};
use super::redirect::error_redirect;

/// What a page's post answers when the flow does not go on: the page to show.
type Step = Result<(), Reply>;

/// A form post from one of the sign-in pages (it names its transaction, `txn`, and its page,
/// `step`).
pub(super) fn handle_step(shared: &Shared, ctx: &Ctx, inc: &Incoming, action: &str) -> Reply {
    let mut st = shared.st();
    let txn_id = inc.f("txn").unwrap_or_default().to_string();
    let Some(mut txn) = st.txns.get(&txn_id).cloned() else {
        return expired_txn(ctx);
    };
    let post = Post {
        ctx,
        inc,
        txn_id: &txn_id,
        action,
    };
    let done = match inc.f("step").unwrap_or_default() {
        "login" => post.login(&st, &mut txn),
        "use_session" => post.use_session(&st, &mut txn),
        "password" => post.password(&mut st, &txn),
        "mfa" => post.mfa(&st, &mut txn),
        "consent" => post.consent(&mut st, &mut txn),
        _ => Err(expired_txn(ctx)),
    };
    if let Err(page) = done {
        return page;
    }
    st.txns.insert(txn_id.clone(), txn);
    advance(&mut st, ctx, inc, &txn_id, action)
}

/// One form post.
struct Post<'a> {
    ctx: &'a Ctx,
    inc: &'a Incoming,
    txn_id: &'a str,
    action: &'a str,
}

impl Post<'_> {
    /// The sign-in page: user name and password, of a user of the transaction's tenant.
    fn login(&self, st: &State, txn: &mut Txn) -> Step {
        let sel = st
            .resolve_tenant(&txn.tenant_seg)
            .unwrap_or(TenantSel::Common);
        let username = self
            .inc
            .f("username")
            .unwrap_or_default()
            .trim()
            .to_string();
        let password = self.inc.f("password").unwrap_or_default();
        let user = st.user(&username).filter(|u| st.user_in(u, &sel));
        let error = match &user {
            None => Some(
                "This username may be incorrect. Make sure you typed it correctly. (AADSTS50034)",
            ),
            Some(u) if u.disabled => Some(
                "Your account has been locked. Contact your support person to unlock it, then try again. (AADSTS50057)",
            ),
            Some(u) if u.password != password => {
                Some("Your account or password is incorrect. (AADSTS50126)")
            }
            Some(_) => None,
        };
        if let Some(e) = error {
            return Err(login_page(
                st,
                self.txn_id,
                txn,
                self.action,
                &username,
                Some(e),
            ));
        }
        txn.username = user.map(|u| u.username.to_ascii_lowercase());
        txn.mfa_done = false;
        txn.account_chosen = true;
        Ok(())
    }

    /// The account picker's "continue as": the session's user.
    fn use_session(&self, st: &State, txn: &mut Txn) -> Step {
        let session = self
            .inc
            .cookie(SESSION_COOKIE)
            .and_then(|id| st.sessions.get(&id).cloned());
        let Some(s) = session else {
            return Err(login_page(st, self.txn_id, txn, self.action, "", None));
        };
        txn.username = Some(s.username);
        txn.mfa_done = s.mfa;
        txn.account_chosen = true;
        Ok(())
    }

    /// The password change page: a new password, different from the old one.
    fn password(&self, st: &mut State, txn: &Txn) -> Step {
        let Some(username) = txn.username.clone() else {
            return Err(expired_txn(self.ctx));
        };
        let new_password = self.inc.f("new_password").unwrap_or_default();
        let Some(mut user) = st.user(&username) else {
            return Err(expired_txn(self.ctx));
        };
        if new_password.is_empty() || new_password == user.password {
            return Err(password_page(
                self.txn_id,
                self.action,
                &username,
                Some("Enter a new password that is different from the old one."),
            ));
        }
        user.password = new_password.to_string();
        user.password_expired = false;
        if let Err(e) = st.upsert_user(user) {
            tracing::warn!("password change failed: {e}");
        }
        Ok(())
    }

    /// The MFA page: the expected code.
    fn mfa(&self, st: &State, txn: &mut Txn) -> Step {
        let code = self
            .inc
            .f("mfa_code")
            .unwrap_or_default()
            .trim()
            .to_string();
        if code != st.options.mfa_code {
            let expected = st.options.mfa_code.clone();
            return Err(mfa_page(
                self.txn_id,
                self.action,
                &expected,
                Some("You didn't enter the expected verification code. Please try again."),
            ));
        }
        txn.mfa_done = true;
        Ok(())
    }

    /// The consent page: accepting records the consent; cancelling ends the sign-in
    /// (AADSTS65004 to the app, or the device code denied).
    fn consent(&self, st: &mut State, txn: &mut Txn) -> Step {
        let (Some(username), Some(app)) = (txn.username.clone(), st.app(&txn.client_id)) else {
            return Err(expired_txn(self.ctx));
        };
        if self.inc.f("decision") != Some("accept") {
            st.txns.remove(self.txn_id);
            return Err(match &txn.kind {
                TxnKind::Authorize(params) => error_redirect(params, self.ctx, &AadErr::new(65004)),
                TxnKind::Device { device_code } => {
                    if let Some(g) = st.device_codes.get_mut(device_code) {
                        g.status = DeviceStatus::Denied;
                    }
                    device_declined_page()
                }
            });
        }
        if let (Some(user), Ok(req)) = (st.user(&username), st.parse_scopes(&txn.scope)) {
            let mut full = st.missing_consent(&user, &app, &req);
            if req.resource_explicit && !req.is_default {
                full.extend(
                    req.scopes
                        .iter()
                        .map(|s| format!("{}/{}", req.resource.identifier, s)),
                );
            }
            st.record_consent(&username, &app.cfg.client_id, &full);
        }
        txn.consent_done = true;
        Ok(())
    }
}
