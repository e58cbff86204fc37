//! The sign-in flow shared by `/authorize` and `/devicelogin`: a transaction ([`Txn`]) moves
//! through the steps — account, password change, MFA, session, consent — to its end: the
//! redirect with a code, or the approved device code.
//!
//! [`advance`] shows the page of the first step still to do, or the end. Each step is a function
//! of its own; a step that has a page to show (or an error to answer) returns it as `Err`. The
//! pages' form posts are taken by `steps.rs`.

use crate::config::UserConfig;
use crate::records::{
    AuthParams, ClaimsReq, CodeGrant, DeviceStatus, ScopeRequest, Session, Txn, TxnKind,
};
use crate::state::{App, State, TenantSel, now_secs, random_token};
use crate::token::client_info;
use crate::wire::{AadErr, Ctx, Incoming, Reply};

use super::html::{
    account_picker, consent_page, device_signed_in_page, error_page, expired_txn, login_page,
    mfa_page, password_page,
};
use super::redirect::{error_redirect, redirect_to_app};

/// The session cookie's name.
pub(super) const SESSION_COOKIE: &str = "msal_emulator_session";

/// What a step answers when it does not let the flow go on: the page or redirect to send.
type Step<T = ()> = Result<T, Reply>;

/// A transaction being moved forward, with what every step needs.
struct Flow<'a> {
    ctx: &'a Ctx,
    inc: &'a Incoming,
    txn_id: &'a str,
    /// Where the pages post their forms.
    action: &'a str,
    txn: Txn,
    /// The `/authorize` request's parameters (`None` in the device flow).
    params: Option<AuthParams>,
}

impl Flow<'_> {
    fn prompt(&self) -> Option<&str> {
        self.params.as_ref().and_then(|p| p.prompt.as_deref())
    }

    /// `prompt=none`: no page may be shown; what would need one is an error instead.
    fn prompt_none(&self) -> bool {
        self.prompt() == Some("none")
    }

    /// An error: redirected to the app in the `/authorize` flow, a page in the device flow.
    fn fail(&self, err: AadErr) -> Reply {
        match &self.params {
            Some(p) => error_redirect(p, self.ctx, &err),
            None => error_page(400, "Sign in", &err, self.ctx),
        }
    }

    /// The sign-in page, prefilled with the `login_hint`, or `login_required` with
    /// `prompt=none`.
    fn login_required(&self, st: &State) -> Reply {
        if self.prompt_none() {
            return self.fail(AadErr::new(50058).error("login_required"));
        }
        let hint = self.params.as_ref().and_then(|p| p.login_hint.as_deref());
        login_page(
            st,
            self.txn_id,
            &self.txn,
            self.action,
            hint.unwrap_or(""),
            None,
        )
    }

    /// Step 1, the account: the transaction's user, else the session's (when it fits the
    /// tenant and the `login_hint`, and the account picker is not asked for), else the sign-in
    /// page.
    fn choose_account(&mut self, st: &mut State) -> Step {
        if self.txn.username.is_some() {
            return Ok(());
        }
        let sel = st
            .resolve_tenant(&self.txn.tenant_seg)
            .unwrap_or(TenantSel::Common);
        let session = self
            .inc
            .cookie(SESSION_COOKIE)
            .and_then(|id| st.sessions.get(&id).cloned())
            .filter(|s| {
                st.user(&s.username)
                    .is_some_and(|u| !u.disabled && st.user_in(&u, &sel))
            });
        let Some(s) = session.filter(|_| self.prompt() != Some("login")) else {
            return Err(self.login_required(st));
        };
        let hint = self.params.as_ref().and_then(|p| p.login_hint.as_deref());
        if hint.is_some_and(|h| !h.eq_ignore_ascii_case(&s.username)) {
            return Err(self.login_required(st));
        }
        let is_device = self.params.is_none();
        if (self.prompt() == Some("select_account") || is_device) && !self.txn.account_chosen {
            return Err(account_picker(
                st,
                self.txn_id,
                &self.txn,
                self.action,
                &s.username,
            ));
        }
        self.txn.username = Some(s.username.clone());
        self.txn.mfa_done = s.mfa;
        st.txns.insert(self.txn_id.to_string(), self.txn.clone());
        Ok(())
    }

    /// Step 2, the user's state: disabled, password expired (the password change page), MFA
    /// required (the MFA page).
    fn check_user(&self, st: &State) -> Step<UserConfig> {
        let username = self.txn.username.clone().unwrap_or_default();
        let Some(user) = st.user(&username) else {
            return Err(login_page(
                st,
                self.txn_id,
                &self.txn,
                self.action,
                "",
                None,
            ));
        };
        if user.disabled {
            return Err(self.fail(AadErr::new(50057)));
        }
        if user.password_expired {
            if self.prompt_none() {
                return Err(self.fail(AadErr::new(50055).error("interaction_required")));
            }
            return Err(password_page(
                self.txn_id,
                self.action,
                &user.username,
                None,
            ));
        }
        if user.mfa_required && !self.txn.mfa_done {
            if self.prompt_none() {
                return Err(self.fail(AadErr::new(50076)));
            }
            let code = st.options.mfa_code.clone();
            return Err(mfa_page(self.txn_id, self.action, &code, None));
        }
        Ok(user)
    }

    /// Step 3, signed in: remembers the session (also when consent is still to be given).
    /// Answers its id and the `Set-Cookie` value.
    fn remember_session(&self, st: &mut State, user: &UserConfig) -> (String, String) {
        let username = user.username.to_ascii_lowercase();
        let sid = match self.inc.cookie(SESSION_COOKIE) {
            Some(id) if st.sessions.get(&id).is_some_and(|s| s.username == username) => id,
            _ => random_token(24),
        };
        let prior_mfa = st.sessions.get(&sid).is_some_and(|s| s.mfa);
        st.sessions.insert(
            sid.clone(),
            Session {
                username,
                mfa: self.txn.mfa_done || prior_mfa,
            },
        );
        let cookie = session_cookie(&sid);
        (sid, cookie)
    }

    /// Step 4, consent: the consent page when the user has not consented to every scope
    /// asked for (or `prompt=consent`). Answers the app and the scopes.
    fn check_consent(
        &self,
        st: &State,
        user: &UserConfig,
        cookie: &str,
    ) -> Step<(App, ScopeRequest)> {
        let Some(app) = st.app(&self.txn.client_id) else {
            return Err(expired_txn(self.ctx));
        };
        let req = st.parse_scopes(&self.txn.scope).map_err(|e| self.fail(e))?;
        let missing = st.missing_consent(user, &app, &req);
        let force = self.prompt() == Some("consent");
        if (!missing.is_empty() || force) && !self.txn.consent_done {
            let page = if self.prompt_none() {
                self.fail(AadErr::new(65001).error("consent_required"))
            } else {
                consent_page(st, self.txn_id, &self.txn, self.action)
            };
            return Err(page.header("set-cookie", cookie));
        }
        Ok((app, req))
    }

    /// The end of the `/authorize` flow: an authorization code, redirected to the app.
    /// (`Err`: the grant failed.)
    fn issue_code(
        &self,
        st: &mut State,
        p: &AuthParams,
        (user, app, req): (&UserConfig, &App, &ScopeRequest),
        sid: &str,
    ) -> Step<Reply> {
        let granted = st
            .grant(user, app, req, &[], true)
            .map_err(|e| self.fail(e))?;
        let claims = ClaimsReq::parse(p.claims.as_deref()).unwrap_or_default();
        let code = random_token(48);
        let lifetime = st.options.auth_code_lifetime_secs;
        st.codes.insert(
            code.clone(),
            CodeGrant {
                client_id: app.cfg.client_id.clone(),
                redirect_uri: p.redirect_uri.clone(),
                code_challenge: p.code_challenge.clone(),
                code_challenge_method: p.code_challenge_method.clone(),
                username: user.username.to_ascii_lowercase(),
                granted,
                nonce: p.nonce.clone(),
                claims,
                mfa: self.txn.mfa_done,
                expires_at: now_secs() + lifetime,
            },
        );
        let tid = st
            .home_tenant(user.tenant.as_deref())
            .map(|t| t.id)
            .unwrap_or_default();
        // On `common` and `organizations` the issuer is the user's tenant's.
        let mut p = p.clone();
        p.iss = p.iss.map(|i| i.replace("{tenantid}", &tid));
        Ok(redirect_to_app(
            &p,
            &[
                ("code", code),
                ("client_info", client_info(&user.oid(), &tid)),
                ("session_state", sid.to_string()),
            ],
        ))
    }

    /// The end of the device flow: the device code is approved for the user. (`Err`: the code
    /// is gone or no longer pending.)
    fn approve_device(
        &self,
        st: &mut State,
        device_code: &str,
        user: &UserConfig,
        app: &App,
    ) -> Step<Reply> {
        let Some(g) = st.device_codes.get_mut(device_code) else {
            return Err(expired_txn(self.ctx));
        };
        if g.status != DeviceStatus::Pending {
            return Err(error_page(
                400,
                "Sign in",
                &AadErr::new(70019).desc("The code was already used or has expired."),
                self.ctx,
            ));
        }
        g.status = DeviceStatus::Approved {
            username: user.username.to_ascii_lowercase(),
            mfa: self.txn.mfa_done,
        };
        Ok(device_signed_in_page(&app.cfg.name))
    }

    /// Runs the steps in order: the page of the first step still to do (`Err`), or the end
    /// (`Ok`), which carries the session cookie.
    fn run(&mut self, st: &mut State) -> Step<Reply> {
        self.choose_account(st)?;
        let user = self.check_user(st)?;
        let (sid, cookie) = self.remember_session(st, &user);
        let (app, req) = self.check_consent(st, &user, &cookie)?;
        st.txns.remove(self.txn_id);
        let end = match &self.txn.kind {
            TxnKind::Authorize(p) => self.issue_code(st, p, (&user, &app, &req), &sid)?,
            TxnKind::Device { device_code } => self.approve_device(st, device_code, &user, &app)?,
        };
        Ok(end.header("set-cookie", cookie))
    }
}

/// The parameters of an `/authorize` transaction.
fn txn_params(txn: &Txn) -> Option<&AuthParams> {
    match &txn.kind {
        TxnKind::Authorize(p) => Some(p),
        TxnKind::Device { .. } => None,
    }
}

/// The session cookie for a session id.
fn session_cookie(id: &str) -> String {
    format!("{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax")
}

/// Moves a sign-in forward: the next page to show, or the final redirect.
pub(super) fn advance(
    st: &mut State,
    ctx: &Ctx,
    inc: &Incoming,
    txn_id: &str,
    action: &str,
) -> Reply {
    let Some(txn) = st.txns.get(txn_id).cloned() else {
        return expired_txn(ctx);
    };
    let params = txn_params(&txn).cloned();
    let mut flow = Flow {
        ctx,
        inc,
        txn_id,
        action,
        txn,
        params,
    };
    match flow.run(st) {
        Ok(reply) | Err(reply) => reply,
    }
}
