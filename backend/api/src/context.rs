use crate::error::ApiResult;
use async_graphql::Context;
use crm_core::auth::Principal;
use crm_core::services::Services;

/// What the transport learnt about the caller before GraphQL ran.
#[derive(Clone, Debug)]
pub enum Caller {
    Anonymous,
    Authenticated(Principal),
}

/// The client's address, for rate limiting.
#[derive(Clone, Debug)]
pub struct ClientAddress(pub String);

pub fn services<'a>(ctx: &Context<'a>) -> &'a Services {
    ctx.data_unchecked::<Services>()
}

pub fn principal<'a>(ctx: &Context<'a>) -> ApiResult<&'a Principal> {
    match ctx.data_opt::<Caller>() {
        Some(Caller::Authenticated(principal)) => Ok(principal),
        _ => Err(crm_core::Error::Unauthenticated.into()),
    }
}

pub fn client_address(ctx: &Context<'_>) -> String {
    ctx.data_opt::<ClientAddress>().map(|a| a.0.clone()).unwrap_or_else(|| "unknown".into())
}
