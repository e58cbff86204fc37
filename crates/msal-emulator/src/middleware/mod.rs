//! The layers requests pass through, outermost first.
//!
//! 1. [`intake()`], around the whole router: reads the body (at most 1 MiB), decodes the form
//!    and the query into an [`Incoming`](crate::wire::Incoming), and hands the router the
//!    route's canonical path (Entra matches paths case-insensitively; axum does not).
//!
//! Then, on the public endpoints (the admin API has its own guard, `admin::authorize`):
//!
//! 2. [`sever()`]: carries out a fault's verdict to hang or to drop the connection.
//! 3. [`record()`]: the request log.
//! 4. [`correlate()`]: the request's trace and correlation ids ([`Ctx`](crate::wire::Ctx)), and
//!    the answer headers that carry them.
//! 5. [`inject_faults`], on the endpoints fault rules can name: applies the matching rules.
//!
//! Every layer is an `axum::middleware::from_fn` function; the router (`router.rs`) stacks
//! them.

mod correlate;
mod inject;
mod intake;
mod record;
mod sever;

pub(crate) use self::correlate::correlate;
pub(crate) use self::inject::{FaultPoint, inject_faults};
pub(crate) use self::intake::intake;
pub(crate) use self::record::record;
pub(crate) use self::sever::sever;
