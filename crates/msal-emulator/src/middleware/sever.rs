//! Hanging and dropped connections.

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;

use crate::wire::Severed;

/// Carries out a [`Severed`] verdict of the layers inside: never answers (`Hang`), or closes
/// the connection without an answer (`Drop`). Other answers pass unchanged.
pub(crate) async fn sever(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    match resp.extensions().get::<Severed>() {
        None => resp,
        Some(Severed::Hang) => std::future::pending().await,
        Some(Severed::Drop) => {
            // A body whose first chunk is an error makes the server close the connection
            // before the response head is flushed: the client sees no answer at all.
            let stream = futures_util::stream::once(async {
                Err::<Bytes, std::io::Error>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "fault injection: drop connection",
                ))
            });
            Response::new(Body::from_stream(stream))
        }
    }
}
