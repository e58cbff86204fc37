//! The `tower` front: [`BearerAuth`] as a `tower::Layer`, [`BearerService`] as the service it
//! makes around any `http::Request<B>` -> `http::Response<_>` service (hyper-util's client, a
//! tower stack).
//!
//! The request body must be `Clone` (`Full<Bytes>`, `String`, `Bytes`, `Empty<Bytes>`...):
//! the request is cloned before it is sent, because only a copy can be sent again after a
//! claims challenge. Requiring it in the type is the simplest sound choice: a retry can never
//! meet a body that was already consumed, and nothing is buffered behind the caller's back. A
//! streaming body (hyper's `Incoming`, a boxed stream) cannot go through this layer; collect it
//! first (e.g. `http_body_util::BodyExt::collect` with a size limit you choose).
//!
//! Errors are `tower::BoxError`s: the middleware's own failures are a boxed
//! [`msal::Error`](crate::Error) (`err.downcast_ref::<msal::Error>()`), the inner service's
//! errors are passed on boxed as they are.

use std::future::poll_fn;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use http::header::AUTHORIZATION;
use http::{Request, Response};
use tower::{BoxError, Layer, Service};

use super::{BearerAuth, FirstAnswer};

impl<S> Layer<S> for BearerAuth {
    type Service = BearerService<S>;

    fn layer(&self, inner: S) -> BearerService<S> {
        BearerService {
            auth: self.clone(),
            inner,
        }
    }
}

/// The service [`BearerAuth`] makes as a `tower::Layer`: sends each request with the app's
/// token and answers one claims challenge (see the [module documentation](crate::middleware)).
#[derive(Clone, Debug)]
pub struct BearerService<S> {
    auth: BearerAuth,
    inner: S,
}

impl<S> BearerService<S> {
    /// Wraps `inner` (the same as `auth.layer(inner)`).
    pub fn new(auth: BearerAuth, inner: S) -> Self {
        BearerService { auth, inner }
    }

    /// The wrapped service.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S, B, RB> Service<Request<B>> for BearerService<S>
where
    S: Service<Request<B>, Response = Response<RB>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: Clone + Send + 'static,
    RB: Send + 'static,
{
    type Response = Response<RB>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Response<RB>, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        // The service that was polled ready goes into the future and a fresh clone stays
        // (tower's idiom): the future may outlive `&mut self` and calls it twice.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let auth = self.auth.clone();
        Box::pin(async move {
            let value = auth.authorization(None).await?;
            req.headers_mut().insert(AUTHORIZATION, value);
            // Sending consumes the request: the copy for a retry is taken now.
            let mut retry = req.clone();
            let res = inner.call(req).await.map_err(Into::into)?;
            let verdict = auth
                .first_answer(res.status().as_u16(), res.headers(), true)
                .await?;
            let FirstAnswer::Retry(value) = verdict else {
                return Ok(res);
            };
            drop(res);
            retry.headers_mut().insert(AUTHORIZATION, value);
            poll_fn(|cx| inner.poll_ready(cx))
                .await
                .map_err(Into::into)?;
            let res = inner.call(retry).await.map_err(Into::into)?;
            auth.retried_answer(res.status().as_u16(), res.headers())?;
            Ok(res)
        })
    }
}
