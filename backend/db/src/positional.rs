//! The busiest reads' rows decoded by position, straight from Postgres's row. sea-orm's
//! derived decoding formats each column's name and looks it up, and formats an error for
//! every NULL it meets: on a calls page (50 rows of 19 columns) that was an eighth of the
//! request's CPU. Elsewhere (SQLite, joined selects) the derived decoding is used.
use crate::entities::{calls, customers, messages};
use sea_orm::sqlx::postgres::PgRow;
use sea_orm::sqlx::{Decode, Postgres, Row, Type};
use sea_orm::{DbErr, FromQueryResult, QueryResult};

/// A model read by position: `Entity::find()` selects the columns in field order.
pub(crate) struct Positional<M>(pub M);

fn at<'r, T: Decode<'r, Postgres> + Type<Postgres>>(row: &'r PgRow, index: usize) -> Result<T, DbErr> {
    row.try_get(index).map_err(|error| DbErr::Type(error.to_string()))
}

macro_rules! positional {
    ($module:ident { $($field:ident),+ $(,)? }) => {
        impl FromQueryResult for Positional<$module::Model> {
            fn from_query_result(res: &QueryResult, pre: &str) -> Result<Self, DbErr> {
                if let (true, Some(row)) = (pre.is_empty(), res.try_as_pg_row()) {
                    let mut index = 0..;
                    let mut next = || index.next().unwrap_or_default();
                    return Ok(Positional($module::Model { $($field: at(row, next())?,)+ }));
                }
                <$module::Model as FromQueryResult>::from_query_result(res, pre).map(Positional)
            }
        }

        #[cfg(test)]
        impl Fields for $module::Model {
            type Entity = $module::Entity;
            const FIELDS: &'static [&'static str] = &[$(stringify!($field)),+];
        }
    };
}

positional!(calls {
    tenant_id,
    id,
    direction,
    status,
    from_number,
    to_number,
    trunk_id,
    customer_id,
    user_id,
    edge,
    started_at,
    answered_at,
    ended_at,
    hangup_by,
    sip_cause,
    recording_key,
    recording_duration_ms,
    recording_bytes,
    recording_deleted_at,
});
positional!(customers { tenant_id, id, name, responsible_user_id, created_at, updated_at, fields });
positional!(messages {
    tenant_id,
    id,
    conversation_id,
    connection_id,
    direction,
    text,
    attachments,
    external_id,
    sender_user_id,
    status,
    error,
    fetch_pending,
    created_at,
});

#[cfg(test)]
trait Fields {
    type Entity: sea_orm::EntityTrait;
    const FIELDS: &'static [&'static str];
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{EntityTrait, IdenStatic, Iterable};

    fn columns<M: Fields>() -> Vec<&'static str> {
        <M::Entity as EntityTrait>::Column::iter().map(|c| c.as_str()).collect()
    }

    #[test]
    fn positions_follow_the_columns_the_entity_selects() {
        assert_eq!(columns::<calls::Model>(), calls::Model::FIELDS);
        assert_eq!(columns::<customers::Model>(), customers::Model::FIELDS);
        assert_eq!(columns::<messages::Model>(), messages::Model::FIELDS);
    }
}
