//! `GrpcAuthToken`: when set, every PushProxy call needs `authorization: Bearer <token>`.
//! Health and reflection stay open, so probes and `grpcurl list` work without the secret.

use tonic::{Request, Status};

/// The interceptor for the PushProxy service; with no token configured it lets all through.
pub fn interceptor(token: &str) -> impl Fn(Request<()>) -> Result<Request<()>, Status> + Clone {
    let expected = (!token.is_empty()).then(|| format!("Bearer {token}").into_bytes());
    move |req: Request<()>| {
        let Some(expected) = &expected else {
            return Ok(req);
        };
        let given = req
            .metadata()
            .get("authorization")
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if constant_time_eq(given, expected) {
            Ok(req)
        } else {
            Err(Status::unauthenticated(
                "missing or wrong authorization: Bearer <GrpcAuthToken>",
            ))
        }
    }
}

/// Compares without an early exit, so the time taken does not reveal how much of a guess matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_the_bearer_token() {
        let check = interceptor("s3cret");
        let with = |v: &str| {
            let mut r = Request::new(());
            r.metadata_mut().insert("authorization", v.parse().unwrap());
            r
        };
        assert!(check(with("Bearer s3cret")).is_ok());
        assert_eq!(
            check(with("Bearer wrong!")).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        assert!(check(Request::new(())).is_err());
        assert!(interceptor("")(Request::new(())).is_ok());
    }
}
