//! The `CurrentUser` extractor: a valid access JWT or personal API token, or 401. A
//! malformed token is 401, never anonymous. Read-scoped API tokens are refused (403) on every
//! request that is not a read.

use actix_web::dev::Payload;
use actix_web::http::{Method, header};
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use uuid::Uuid;

use super::tokens::API_TOKEN_PREFIX;
use crate::domain::{Role, TokenScope, UserId};
use crate::error::ServiceError;
use crate::services::{Actor, AppContext};

/// How the caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// An access JWT from a login.
    Session,
    /// A personal API token.
    ApiToken { id: Uuid, scope: TokenScope },
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: UserId,
    pub role: Role,
    pub method: AuthMethod,
    pub ip: String,
}

impl CurrentUser {
    /// The acting user for services.
    #[must_use]
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: self.id,
            ip: Some(self.ip.clone()),
        }
    }

    /// Refuses personal API tokens for account-security operations (creating tokens,
    /// changing the password): those need a signed-in session.
    ///
    /// # Errors
    /// `Forbidden` when authenticated by an API token.
    pub fn require_session(&self) -> Result<(), ServiceError> {
        match self.method {
            AuthMethod::Session => Ok(()),
            AuthMethod::ApiToken { .. } => Err(ServiceError::Forbidden(
                "API tokens cannot manage tokens or the password; sign in instead",
            )),
        }
    }
}

/// Carries the user id on the request so the access log and metrics can use it.
#[derive(Clone, Copy)]
pub struct AuthenticatedUserId(pub Uuid);

/// Resolves an `Authorization` header value to the caller. Scope rules are the caller's job
/// (the REST extractor refuses read tokens on writes; GraphQL refuses them on mutations).
///
/// # Errors
/// `Unauthenticated` for a missing, malformed, expired or revoked token.
pub async fn authenticate(
    ctx: &AppContext,
    header: Option<&str>,
    ip: String,
) -> Result<CurrentUser, ServiceError> {
    let Some(header) = header else {
        return Err(ServiceError::Unauthenticated(
            "an Authorization: Bearer token is required",
        ));
    };
    let Some((scheme, token)) = header.trim().split_once(' ') else {
        return Err(ServiceError::Unauthenticated(
            "the Authorization header must be `Bearer <token>`",
        ));
    };
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ServiceError::Unauthenticated(
            "the Authorization header must be `Bearer <token>`",
        ));
    }
    let token = token.trim();
    if token.starts_with(API_TOKEN_PREFIX) {
        let owner = ctx.tokens().authenticate(token).await?;
        Ok(CurrentUser {
            id: owner.user_id,
            role: owner.role,
            method: AuthMethod::ApiToken {
                id: owner.token_id,
                scope: owner.scope,
            },
            ip,
        })
    } else {
        let claims = ctx
            .jwt
            .verify(token)
            .map_err(|_| ServiceError::Unauthenticated("the access token is invalid or expired"))?;
        Ok(CurrentUser {
            id: UserId(claims.sub),
            role: Role::from_stored(&claims.role),
            method: AuthMethod::Session,
            ip,
        })
    }
}

impl CurrentUser {
    /// Whether this caller may only read.
    #[must_use]
    pub fn is_read_only(&self) -> bool {
        matches!(
            self.method,
            AuthMethod::ApiToken {
                scope: TokenScope::Read,
                ..
            }
        )
    }
}

impl FromRequest for CurrentUser {
    type Error = ServiceError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let ctx = req.app_data::<web::Data<AppContext>>().cloned();
        let header = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().map(str::to_string));
        let is_read = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
        let ip = crate::routes::client_ip(req);
        let req = req.clone();
        Box::pin(async move {
            let ctx =
                ctx.ok_or_else(|| ServiceError::Unexpected(anyhow::anyhow!("AppContext missing")))?;
            let header = match header {
                None => None,
                Some(Err(_)) => {
                    return Err(ServiceError::Unauthenticated(
                        "the Authorization header is malformed",
                    ));
                }
                Some(Ok(h)) => Some(h),
            };
            let user = authenticate(&ctx, header.as_deref(), ip).await?;
            if user.is_read_only() && !is_read {
                return Err(ServiceError::Forbidden("this API token is read-only"));
            }
            tracing::Span::current().record("user_id", tracing::field::display(user.id));
            req.extensions_mut().insert(AuthenticatedUserId(user.id.0));
            Ok(user)
        })
    }
}
