//! `POST /imports/customers`: a CSV file of customers too big for a GraphQL request (the
//! mutation `importCustomers` takes the file as a string, within the request body limit). The
//! body is the file (UTF-8); the mapping comes as query parameters, one per column:
//! `?map.<column>=<target>` (targets as in `ColumnMapping`), and `dryRun=true` for a dry run.
//! The answer is the import as started; follow it with the query `customerImport(id)`. Errors
//! have GraphQL's shape and codes.
use crate::ApiState;
use crate::error::http_error;
use crate::http::principal;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use crm_core::Error;
use serde_json::json;

pub async fn customers(
    State(state): State<ApiState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let principal = match principal(&state.services, &headers).await {
        Ok(principal) => principal,
        Err(error) => return http_error(error),
    };
    let (mapping, dry_run) = match parameters(query.as_deref().unwrap_or_default()) {
        Ok(parameters) => parameters,
        Err(error) => return http_error(error),
    };
    let Ok(csv) = std::str::from_utf8(&body) else {
        return http_error(Error::bad_input("csv", "the file must be UTF-8 text; save it as CSV UTF-8"));
    };
    match state.services.import_customers(&principal, csv, &mapping, dry_run).await {
        Ok(import) => Json(json!({
            "id": import.id.to_string(),
            "status": "RUNNING",
            "dryRun": import.dry_run,
            "total": import.total,
        }))
        .into_response(),
        Err(error) => http_error(error),
    }
}

/// The column mapping (`map.<column>=<target>`) and `dryRun` from a query string.
fn parameters(query: &str) -> Result<(Vec<(String, String)>, bool), Error> {
    let (mut mapping, mut dry_run) = (Vec::new(), false);
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.strip_prefix("map.") {
            Some(column) => mapping.push((column.to_owned(), value.into_owned())),
            None if key == "dryRun" => {
                dry_run = match value.as_ref() {
                    "true" | "1" | "" => true,
                    "false" | "0" => false,
                    _ => return Err(Error::bad_input("dryRun", "dryRun is true or false")),
                }
            }
            None => {
                return Err(Error::bad_input(
                    "query",
                    format!("unknown parameter {key:?}: use map.<column>=<target> and dryRun"),
                ));
            }
        }
    }
    Ok((mapping, dry_run))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_mapping_and_dry_run_come_from_the_query() {
        let (mapping, dry_run) =
            super::parameters("map.Full+name=name&map.%D0%A2%D0%B5%D0%BB=phone&dryRun=true").unwrap();
        assert_eq!(mapping, [("Full name".to_owned(), "name".to_owned()), ("Тел".to_owned(), "phone".to_owned())]);
        assert!(dry_run);
        assert_eq!(
            super::parameters("map.Tier=field%3Atier").unwrap(),
            (vec![("Tier".into(), "field:tier".into())], false)
        );
        assert!(super::parameters("mapping=x").is_err());
        assert!(super::parameters("dryRun=maybe").is_err());
    }
}
