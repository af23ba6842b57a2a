//! Subscriptions over WebSocket (graphql-transport-ws, and the older graphql-ws): import-job
//! progress. The connection authenticates through its `connection_init` payload
//! (`{"authorization": "Bearer ..."}`).

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use async_graphql::{Context, Data, Subscription};
use async_graphql_actix_web::GraphQLSubscription;
use futures_util::Stream;
use uuid::Uuid;

use super::types::ImportJob;
use super::{Auth, TributarySchema, app, current_user, to_gql};
use crate::auth::authenticate;
use crate::error::ServiceError;
use crate::services::AppContext;

pub struct SubscriptionRoot;

const POLL: Duration = Duration::from_millis(200);

#[Subscription]
impl SubscriptionRoot {
    /// Streams the job's status, progress and counts whenever they change (a file import
    /// running on this node reports its live `progress` and `processed`), ending when the job
    /// ends.
    async fn import_job_progress(
        &self,
        ctx: &Context<'_>,
        job_id: Uuid,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<ImportJob>> + use<>> {
        let user = current_user(ctx)?;
        let app_ctx = ctx
            .data::<web::Data<AppContext>>()
            .map_err(|_| {
                to_gql(ServiceError::Unexpected(anyhow::anyhow!(
                    "AppContext missing"
                )))
            })?
            .clone();
        // Ownership is checked before the stream starts: another user's job is an error.
        let first = app(ctx)?
            .import_jobs()
            .get(user.id, job_id)
            .await
            .map_err(to_gql)?;
        let state = (Some(first), None::<ImportJob>, false);
        Ok(futures_util::stream::unfold(
            state,
            move |(pending, last, done)| {
                let app_ctx = app_ctx.clone();
                let user_id = user.id;
                async move {
                    if done {
                        return None;
                    }
                    let mut job = pending;
                    loop {
                        let current = match job.take() {
                            Some(j) => j,
                            None => {
                                tokio::time::sleep(POLL).await;
                                match app_ctx.import_jobs().get(user_id, job_id).await {
                                    Ok(j) => j,
                                    Err(e) => return Some((Err(to_gql(e)), (None, last, true))),
                                }
                            }
                        };
                        let finished = current.is_finished();
                        let view = ImportJob::from(current);
                        if last.as_ref() != Some(&view) {
                            return Some((Ok(view.clone()), (None, Some(view), finished)));
                        }
                        if finished {
                            return None;
                        }
                    }
                }
            },
        ))
    }
}

/// Upgrades `GET /graphql` to a subscription WebSocket.
pub(crate) fn start(
    ctx: web::Data<AppContext>,
    schema: TributarySchema,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    let ip = crate::routes::client_ip(req);
    GraphQLSubscription::new(schema)
        .on_connection_init(move |value: serde_json::Value| async move {
            let header = value
                .get("authorization")
                .or_else(|| value.get("Authorization"))
                .and_then(serde_json::Value::as_str)
                .map(str::to_string);
            let auth = authenticate(&ctx, header.as_deref(), ip)
                .await
                .map_err(std::sync::Arc::new);
            if let Err(e) = &auth {
                return Err(to_gql(match e.as_ref() {
                    ServiceError::Unauthenticated(why) => ServiceError::Unauthenticated(why),
                    _ => ServiceError::Unauthenticated("authentication failed"),
                }));
            }
            let mut data = Data::default();
            data.insert(Auth(auth));
            Ok(data)
        })
        .start(req, payload)
}
