//! WHERE clauses built from query filters, with their bound values, and paged queries.

use crate::error::ProjectionError;
use crate::query::{Page, PageRequest};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{AssertSqlSafe, PgPool, Postgres};
use uuid::Uuid;

/// One bound value. Lists bind as one array each (`column = ANY($n)`), so a filter of any length
/// is one parameter and one cached plan shape.
#[derive(Debug, Clone)]
enum Bind {
    Uuids(Vec<Uuid>),
    Texts(Vec<String>),
    Text(String),
    Time(DateTime<Utc>),
    /// An exact decimal as text, cast to NUMERIC by the clause.
    Numeric(String),
    Day(NaiveDate),
}

/// A WHERE clause made of fixed column names and `$n` placeholders only; every value is bound.
#[derive(Debug, Default, Clone)]
pub(super) struct Conditions {
    clauses: Vec<String>,
    binds: Vec<Bind>,
}

impl Conditions {
    /// The placeholder of the next bound value.
    fn push(&mut self, bind: Bind) -> String {
        self.binds.push(bind);
        format!("${}", self.binds.len())
    }

    pub(super) fn uuids(&mut self, column: &str, ids: impl IntoIterator<Item = Uuid>) {
        let ids: Vec<Uuid> = ids.into_iter().collect();
        if ids.is_empty() {
            return;
        }
        let mark = self.push(Bind::Uuids(ids));
        self.clauses.push(format!("{column} = ANY({mark})"));
    }

    pub(super) fn texts(&mut self, column: &str, texts: impl IntoIterator<Item = String>) {
        let texts: Vec<String> = texts.into_iter().collect();
        if texts.is_empty() {
            return;
        }
        let mark = self.push(Bind::Texts(texts));
        self.clauses.push(format!("{column} = ANY({mark})"));
    }

    /// A fixed condition without values (`deleted_at IS NULL`).
    pub(super) fn fixed(&mut self, clause: &'static str) {
        self.clauses.push(clause.to_string());
    }

    /// Rows whose `first` or `second` column is one of `ids`.
    pub(super) fn either_uuid(
        &mut self,
        first: &str,
        second: &str,
        ids: impl IntoIterator<Item = Uuid>,
    ) {
        let ids: Vec<Uuid> = ids.into_iter().collect();
        if ids.is_empty() {
            return;
        }
        let mark = self.push(Bind::Uuids(ids));
        self.clauses
            .push(format!("({first} = ANY({mark}) OR {second} = ANY({mark}))"));
    }

    /// `from` inclusive, `to` exclusive.
    pub(super) fn time_range(
        &mut self,
        column: &str,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) {
        if let Some(from) = from {
            let mark = self.push(Bind::Time(from));
            self.clauses.push(format!("{column} >= {mark}"));
        }
        if let Some(to) = to {
            let mark = self.push(Bind::Time(to));
            self.clauses.push(format!("{column} < {mark}"));
        }
    }

    /// `column LIKE pattern`, with `\` escaping the pattern's literal `%`, `_` and `\`.
    pub(super) fn like(&mut self, column: &str, pattern: String) {
        let mark = self.push(Bind::Text(pattern));
        self.clauses
            .push(format!("{column} LIKE {mark} ESCAPE '\\'"));
    }

    pub(super) fn numeric_at_least(&mut self, column: &str, value: Decimal) {
        let mark = self.push(Bind::Numeric(value.to_string()));
        self.clauses.push(format!("{column} >= {mark}::numeric"));
    }

    pub(super) fn numeric_at_most(&mut self, column: &str, value: Decimal) {
        let mark = self.push(Bind::Numeric(value.to_string()));
        self.clauses.push(format!("{column} <= {mark}::numeric"));
    }

    pub(super) fn day_at_most(&mut self, column: &str, value: NaiveDate) {
        let mark = self.push(Bind::Day(value));
        self.clauses.push(format!("{column} <= {mark}"));
    }

    pub(super) fn where_clause(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// Binds the values in placeholder order.
    pub(super) fn bind_all<'q>(
        &self,
        mut query: Query<'q, Postgres, PgArguments>,
    ) -> Query<'q, Postgres, PgArguments> {
        for bind in &self.binds {
            query = match bind {
                Bind::Uuids(ids) => query.bind(ids.clone()),
                Bind::Texts(texts) => query.bind(texts.clone()),
                Bind::Text(text) => query.bind(text.clone()),
                Bind::Time(time) => query.bind(*time),
                Bind::Numeric(text) => query.bind(text.clone()),
                Bind::Day(day) => query.bind(*day),
            };
        }
        query
    }
}

/// One page of `table`'s rows matching `conditions`, in `order`, with the total count. Both
/// queries read one snapshot, so the count matches the rows a client pages through.
pub(super) async fn paged<T>(
    pool: &PgPool,
    table: &'static str,
    columns: &'static str,
    conditions: &Conditions,
    order: &'static str,
    page: PageRequest,
    convert: fn(&PgRow) -> Result<T, ProjectionError>,
) -> Result<Page<T>, ProjectionError> {
    let where_clause = conditions.where_clause();
    let limit_mark = conditions.binds.len() + 1;
    let offset_mark = limit_mark + 1;
    let offset = i64::try_from(page.offset()).map_err(|_| {
        ProjectionError::Corrupt(format!("page offset {} is too large", page.offset()))
    })?;

    let mut tx = pool.begin_with(super::SNAPSHOT).await?;
    let total: i64 = conditions
        .bind_all(sqlx::query(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {table}{where_clause}"
        ))))
        .fetch_one(&mut *tx)
        .await
        .and_then(|row| sqlx::Row::try_get(&row, 0))?;
    let rows = conditions
        .bind_all(sqlx::query(AssertSqlSafe(format!(
            "SELECT {columns} FROM {table}{where_clause} ORDER BY {order} \
             LIMIT ${limit_mark} OFFSET ${offset_mark}"
        ))))
        .bind(i64::from(page.size))
        .bind(offset)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    let items = rows.iter().map(convert).collect::<Result<Vec<T>, _>>()?;
    Ok(Page::new(items, page, u64::try_from(total).unwrap_or(0)))
}
