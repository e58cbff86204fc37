//! The `reqwest-middleware` front: [`BearerAuth`] as a `reqwest_middleware::Middleware`.
//!
//! A failure of the middleware is `reqwest_middleware::Error::Middleware` wrapping the
//! [`msal::Error`](crate::Error): `anyhow_error.downcast_ref::<msal::Error>()` gives it back.
//! A request whose body is a stream (`Request::try_clone` is `None`) is sent once; if it is
//! challenged, the error is [`codes::REQUEST_NOT_REPLAYABLE`](crate::error::codes).

use ::reqwest::{Request, Response};
use http::Extensions;
use http::header::AUTHORIZATION;
use reqwest_middleware::{Middleware, Next};

use super::{BearerAuth, FirstAnswer};

#[async_trait::async_trait]
impl Middleware for BearerAuth {
    /// Sends the request with the app's token; answers one claims challenge (see the
    /// [module documentation](crate::middleware)).
    async fn handle(
        &self,
        mut req: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let auth = self
            .authorization(None)
            .await
            .map_err(reqwest_middleware::Error::middleware)?;
        req.headers_mut().insert(AUTHORIZATION, auth);
        // Sending consumes the request, so the copy for a retry is taken now; a streaming body
        // has none, and such a request is sent only once.
        let copy = req.try_clone();
        let res = next.clone().run(req, extensions).await?;
        let verdict = self
            .first_answer(res.status().as_u16(), res.headers(), copy.is_some())
            .await
            .map_err(reqwest_middleware::Error::middleware)?;
        let (FirstAnswer::Retry(auth), Some(mut retry)) = (verdict, copy) else {
            return Ok(res);
        };
        drop(res);
        retry.headers_mut().insert(AUTHORIZATION, auth);
        let res = next.run(retry, extensions).await?;
        self.retried_answer(res.status().as_u16(), res.headers())
            .map_err(reqwest_middleware::Error::middleware)?;
        Ok(res)
    }
}
