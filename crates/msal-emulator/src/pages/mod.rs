//! Server-rendered HTML pages: the `/authorize` sign-in flow (sign-in, account picker,
//! password change, MFA, consent), the device login page, logout and the index page.
//!
//! Every page is a plain HTML form (no script needed) with stable element ids: `#username`,
//! `#password`, `#submit`, `#use-session`, `#mfa-code`, `#new-password`, `#accept`,
//! `#cancel`, `#user-code`; result pages carry `#success`, `#declined`, `#signed-out` or
//! `#error`.
//!
//! Layers, lowest first: `html` (rendering) and `redirect` (back to the app); `flow` (the
//! sign-in steps); `steps` (the pages' form posts); the endpoints `signin`, `device` and
//! `site`.

mod device;
mod flow;
mod html;
mod redirect;
mod signin;
mod site;
mod steps;

pub(crate) use self::device::devicelogin;
pub(crate) use self::signin::{authorize, authorize_fault};
pub(crate) use self::site::{error_code_page, index, logout};
