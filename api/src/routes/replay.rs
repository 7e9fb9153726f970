//! Ops' routes over the log (API.md §2.3–2.4): balances recalculated from the log (dry run or
//! repair), daily balances rebuilt, the daily check, the reconciliation report and the balance
//! check job — all through the replay tool's own code (`folio_replay`).

use crate::answer::Answer;
use crate::dto::AccountDto;
use crate::envelope::Envelope;
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryParams, parse_uuid};
use crate::jobs::{Job, JobKind, Outcome};
use crate::money::Amount;
use crate::state::AppState;
use axum::extract::{Path, State};
use chrono::{DateTime, NaiveDate, Utc};
use folio_domain::{AccountId, Currency};
use folio_replay::daily::{daily_check, reconciliation};
use folio_replay::repair::{account_as_of, recalculate_accounts, recalculate_daily};
use folio_replay::time::day_end;
use folio_replay::verify::{VerifyOptions, verify_live};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Most accounts one recalculation or calculation names: each replays the account's history,
/// so the request's time stays bounded; more accounts take more requests.
pub const MAX_ACCOUNTS: usize = 100;
/// How long a daily-balance recalculation is waited for before it is answered as a job.
const DAILY_WAIT: Duration = Duration::from_secs(10);
/// How long a check waits for the read models to include the log's head.
const CATCH_UP: Duration = Duration::from_secs(5);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecalculateRequest {
    /// 1 to 100 accounts.
    pub account_ids: Vec<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CalculateBalancesRequest {
    /// 1 to 100 accounts.
    pub account_ids: Vec<Uuid>,
    /// The balances at the end of this business day; now when absent.
    #[schema(value_type = Option<String>, format = Date)]
    pub date: Option<NaiveDate>,
}

/// An account's amounts as the log proves them.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CalculatedBalanceDto {
    pub account_id: Uuid,
    pub currency: String,
    pub balance: Amount,
    pub held_amount: Amount,
    pub available_balance: Amount,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DailyRecalculateRequest {
    /// Every account when absent or empty; at most 100.
    #[serde(default)]
    pub account_ids: Vec<Uuid>,
    #[schema(value_type = String, format = Date)]
    pub from_date: NaiveDate,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct DailyCheckQuery {
    /// The business day checked.
    #[param(value_type = String, format = Date)]
    pub date: NaiveDate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum CheckStatus {
    Passed,
    Failed,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DailyCheckDto {
    pub date: NaiveDate,
    pub status: CheckStatus,
    pub accounts_checked: u64,
    /// Every mismatch: accounts whose closing differs, a currency whose balances do not sum to
    /// zero, read models behind the day.
    pub mismatches: u64,
}

/// An account whose daily closing differs from the log. `difference = actual - expected`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DailyCheckDetailDto {
    pub account_id: Uuid,
    pub currency: String,
    pub expected_balance: Amount,
    /// Zero when the read model has no row for the account.
    pub actual_balance: Amount,
    pub difference: Amount,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ReconciliationQuery {
    #[param(value_type = String, format = Date)]
    pub date_from: NaiveDate,
    #[param(value_type = String, format = Date)]
    pub date_to: NaiveDate,
    pub currency: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReconciliationRowDto {
    pub account_id: Uuid,
    pub currency: String,
    /// The log's balance at the end of `dateTo`.
    pub ledger_balance: Amount,
    /// The daily-balance read model's closing of `dateTo`.
    pub daily_balance: Amount,
    /// `dailyBalance - ledgerBalance`.
    pub difference: Amount,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReconciliationReportDto {
    pub rows: Vec<ReconciliationRowDto>,
}

/// The answer to a job's start.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobStartedDto {
    pub job_id: Uuid,
    /// False when a job of this kind was already running: its id is answered instead.
    pub started: bool,
    pub started_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum JobStateDto {
    Running,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum JobKindDto {
    AccountBalanceCheckJob,
    DailyAccountBalanceRecalculation,
}

/// One mismatch a check found.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FindingDto {
    /// `log`, `snapshot`, `invariants`, `balances`, `daily_balances`, `transactions`, …
    pub area: String,
    /// The account (or, for the log, the stream) concerned.
    pub subject: Option<String>,
    pub field: String,
    pub expected: String,
    pub found: String,
    /// The first log position where the two diverge, when known.
    pub position: Option<u64>,
}

/// A background job's status.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobDto {
    pub job_id: Uuid,
    pub kind: JobKindDto,
    pub state: JobStateDto,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub events_done: u64,
    pub events_total: u64,
    pub events_per_second: u64,
    pub summary: Vec<String>,
    pub findings: Vec<FindingDto>,
    /// Rows written, for a recalculation.
    pub rows_rebuilt: Option<u64>,
    pub error: Option<String>,
}

impl From<&Job> for JobDto {
    fn from(job: &Job) -> Self {
        let (done, total) = job.progress.get();
        let finished = job.finished();
        let until = finished.as_ref().map_or_else(Utc::now, |(at, _)| *at);
        let seconds = (until - job.started_at).num_milliseconds().max(1) as u64;
        let mut dto = JobDto {
            job_id: job.id,
            kind: match job.kind {
                JobKind::AccountBalanceCheck => JobKindDto::AccountBalanceCheckJob,
                JobKind::DailyBalanceRecalculation => JobKindDto::DailyAccountBalanceRecalculation,
            },
            state: JobStateDto::Running,
            started_at: job.started_at,
            finished_at: finished.as_ref().map(|(at, _)| *at),
            events_done: done,
            events_total: total,
            events_per_second: done.saturating_mul(1000) / seconds,
            summary: Vec::new(),
            findings: Vec::new(),
            rows_rebuilt: None,
            error: None,
        };
        match finished.map(|(_, outcome)| outcome) {
            None => {}
            Some(Outcome::Succeeded {
                summary,
                findings,
                rows,
            }) => {
                dto.state = JobStateDto::Succeeded;
                dto.summary = summary;
                dto.rows_rebuilt = rows;
                dto.findings = findings
                    .into_iter()
                    .map(|finding| FindingDto {
                        area: finding.area.to_string(),
                        subject: finding.subject,
                        field: finding.field,
                        expected: finding.expected,
                        found: finding.found,
                        position: finding.position,
                    })
                    .collect();
            }
            Some(Outcome::Failed { error }) => {
                dto.state = JobStateDto::Failed;
                dto.error = Some(error);
            }
        }
        dto
    }
}

/// 1 to `MAX_ACCOUNTS` distinct accounts, in the order given.
fn account_list(ids: &[Uuid], may_be_empty: bool) -> Result<Vec<AccountId>, ApiError> {
    if ids.is_empty() && !may_be_empty {
        return Err(ApiError::validation(
            "accountIds",
            "name at least one account",
        ));
    }
    if ids.len() > MAX_ACCOUNTS {
        return Err(ApiError::validation(
            "accountIds",
            format!("at most {MAX_ACCOUNTS} accounts at once"),
        ));
    }
    let mut seen = BTreeSet::new();
    Ok(ids
        .iter()
        .filter(|id| seen.insert(**id))
        .map(|id| AccountId(*id))
        .collect())
}

/// The log's head once the read models include it (or after `CATCH_UP`: the checks then
/// report what is behind).
async fn caught_up_head(state: &AppState) -> Result<u64, ApiError> {
    let head = state
        .log
        .head()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let _ = state.projector.wait_for(head.position, CATCH_UP).await;
    Ok(head.position)
}

/// Replays each account's events from the log with the domain's rules and writes the balance
/// and held amount into the balances read model where it differs; answers the accounts after.
#[utoipa::path(post, path = "/v2/internal/Accounts/recalculate", tag = "Accounts",
    request_body = RecalculateRequest,
    responses((status = 200, description = "The accounts after the repair", body = Envelope<Vec<AccountDto>>),
        (status = 400, description = "No account, too many, or not uuids", body = Envelope<Object>),
        (status = 404, description = "An account the log never opened", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn recalculate(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RecalculateRequest>,
) -> Result<Answer<Vec<AccountDto>>, ApiError> {
    let ids = account_list(&body.account_ids, false)?;
    // So every account the log opened has a row to repair and to answer with.
    caught_up_head(&state).await?;
    let repaired = recalculate_accounts(&state.replay_source(), &state.projector, &ids).await?;
    if !repaired.is_empty() {
        tracing::warn!(accounts = ?repaired, "recalculate: account counters repaired from the log");
    }
    let mut accounts = Vec::with_capacity(ids.len());
    for id in ids {
        let row =
            state.models().account(id).await?.ok_or_else(|| {
                ApiError::NotFound(format!("account {id} has no balances row yet"))
            })?;
        accounts.push(AccountDto::from(&row));
    }
    Ok(Answer::read(accounts))
}

/// A dry run: each account's balance, held and available amount replayed from the log, at the
/// end of `date` (a business day in the server's time zone) or now. Nothing is saved.
#[utoipa::path(post, path = "/internal/Accounts/calculateBalances", tag = "Accounts",
    request_body = CalculateBalancesRequest,
    responses((status = 200, description = "The amounts the log proves", body = Envelope<Vec<CalculatedBalanceDto>>),
        (status = 400, description = "No account, too many, or not uuids", body = Envelope<Object>),
        (status = 404, description = "An account the log never opened", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn calculate_balances(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CalculateBalancesRequest>,
) -> Result<Answer<Vec<CalculatedBalanceDto>>, ApiError> {
    let ids = account_list(&body.account_ids, false)?;
    let until = body.date.map(|day| day_end(day, state.time_zone));
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let proved = account_as_of(state.log.as_ref(), id, until).await?;
        // An account not opened yet by then held nothing.
        let (balance, held) = proved
            .account
            .as_ref()
            .map_or((Decimal::ZERO, Decimal::ZERO), |account| {
                (account.balance(), account.held())
            });
        out.push(CalculatedBalanceDto {
            account_id: id.0,
            currency: proved.currency.code().to_string(),
            balance: balance.into(),
            held_amount: held.into(),
            available_balance: (balance - held).into(),
        });
    }
    Ok(Answer::read(out))
}

/// Rebuilds the daily balances from `fromDate` on, of the accounts named (or all), from the
/// log. Answers the rows written (200) when done within 10 s; otherwise it goes on as a
/// background job (202 with its id; `GET /internal/BackgroundJob/{jobId}` reads it).
#[utoipa::path(post, path = "/internal/DailyAccountBalance/recalculate", tag = "Balances",
    request_body = DailyRecalculateRequest,
    responses((status = 200, description = "Rows rebuilt", body = Envelope<u64>),
        (status = 202, description = "Still running as a background job", body = Envelope<JobStartedDto>),
        (status = 400, description = "Invalid body", body = Envelope<Object>),
        (status = 409, description = "A recalculation is already running (JobRunning)", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn recalculate_daily_balances(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<DailyRecalculateRequest>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let ids = account_list(&body.account_ids, true)?;
    let from = body.from_date;
    let work_state = state.clone();
    let (job, started) = state.jobs.start(
        JobKind::DailyBalanceRecalculation,
        move |progress| async move {
            let source = work_state.replay_source();
            match recalculate_daily(&source, &work_state.projector, &ids, from, Some(progress))
                .await
            {
                Ok(rows) => Outcome::Succeeded {
                    summary: vec![format!("daily balances from {from} rebuilt: {rows} rows")],
                    findings: Vec::new(),
                    rows: Some(rows),
                },
                Err(error) => Outcome::Failed {
                    error: error.to_string(),
                },
            }
        },
    );
    if !started {
        return Err(ApiError::JobRunning {
            kind: "daily balance recalculation",
            job_id: job.id,
        });
    }
    let deadline = tokio::time::Instant::now() + DAILY_WAIT;
    while job.is_running() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    match job.finished().map(|(_, outcome)| outcome) {
        Some(Outcome::Succeeded { rows, .. }) => {
            Ok(Answer::read(rows.unwrap_or(0)).into_response())
        }
        Some(Outcome::Failed { error }) => Err(ApiError::Unavailable(format!(
            "the daily balances were not recalculated: {error}"
        ))),
        None => Ok(Answer::accepted(JobStartedDto {
            job_id: job.id,
            started: true,
            started_at: job.started_at,
        })
        .into_response()),
    }
}

/// Runs the daily check of `date` against the log at the read models' position.
async fn run_daily_check(
    state: &AppState,
    date: NaiveDate,
) -> Result<folio_replay::daily::DailyCheck, ApiError> {
    let head = caught_up_head(state).await?;
    Ok(daily_check(
        &state.replay_source(),
        date,
        state.time_zone,
        Some(head),
        true,
    )
    .await?)
}

/// Every account's daily-balance closing of `date` against the log at that day's end, and
/// Σ balances = 0 per currency, in the log and in the read model (`folio-replay daily-check`).
#[utoipa::path(get, path = "/internal/DailyCheck", tag = "Balances", params(DailyCheckQuery),
    responses((status = 200, description = "Passed or failed, with counts", body = Envelope<DailyCheckDto>),
        (status = 400, description = "Not a date", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn daily_check_summary(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<DailyCheckQuery>,
) -> Result<Answer<DailyCheckDto>, ApiError> {
    let check = run_daily_check(&state, query.date).await?;
    Ok(Answer::read(DailyCheckDto {
        date: check.day,
        status: if check.report.passed() {
            CheckStatus::Passed
        } else {
            CheckStatus::Failed
        },
        accounts_checked: check.accounts_checked,
        mismatches: check.report.findings.len() as u64,
    }))
}

/// The accounts whose daily closing of `date` differs from the log.
#[utoipa::path(get, path = "/internal/DailyCheck/details", tag = "Balances", params(DailyCheckQuery),
    responses((status = 200, description = "One entry per differing account", body = Envelope<Vec<DailyCheckDetailDto>>),
        (status = 400, description = "Not a date", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn daily_check_details(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<DailyCheckQuery>,
) -> Result<Answer<Vec<DailyCheckDetailDto>>, ApiError> {
    let check = run_daily_check(&state, query.date).await?;
    Ok(Answer::read(
        check
            .differences
            .iter()
            .map(|difference| DailyCheckDetailDto {
                account_id: difference.account_id.0,
                currency: difference.currency.code().to_string(),
                expected_balance: difference.expected.into(),
                actual_balance: difference.found.unwrap_or_default().into(),
                difference: difference.difference().into(),
            })
            .collect(),
    ))
}

/// For every account (of `currency`) that moved within the period or whose balances differ:
/// the log's balance and the daily-balance read model's closing at the end of `dateTo`.
#[utoipa::path(get, path = "/internal/Reports/ReconciliationReport", tag = "Balances",
    params(ReconciliationQuery),
    responses((status = 200, description = "One row per account", body = Envelope<ReconciliationReportDto>),
        (status = 400, description = "Invalid dates or currency", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn reconciliation_report(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ReconciliationQuery>,
) -> Result<Answer<ReconciliationReportDto>, ApiError> {
    if query.date_from > query.date_to {
        return Err(ApiError::validation(
            "dateTo",
            "dateTo must not be before dateFrom",
        ));
    }
    let currency = query
        .currency
        .as_deref()
        .map(Currency::from_code)
        .transpose()?;
    let head = caught_up_head(&state).await?;
    let rows = reconciliation(
        &state.replay_source(),
        query.date_from,
        query.date_to,
        currency,
        state.time_zone,
        Some(head),
    )
    .await?;
    Ok(Answer::read(ReconciliationReportDto {
        rows: rows
            .iter()
            .map(|row| ReconciliationRowDto {
                account_id: row.account_id.0,
                currency: row.currency.code().to_string(),
                ledger_balance: row.ledger_balance.into(),
                daily_balance: row.daily_balance.into(),
                difference: row.difference().into(),
            })
            .collect(),
    }))
}

/// Starts the full balance check (`folio-replay verify` against the live log and read models)
/// as a background job: 202 with its id. One runs at a time: while it runs, a start answers
/// that job (200, `started: false`).
#[utoipa::path(post, path = "/internal/BackgroundJob/AccountBalanceCheckJob", tag = "BackgroundJob",
    responses((status = 202, description = "Started", body = Envelope<JobStartedDto>),
        (status = 200, description = "One was running: its id", body = Envelope<JobStartedDto>)),
    security(("bearer" = [])))]
pub async fn start_balance_check(State(state): State<AppState>) -> Answer<JobStartedDto> {
    let work_state = state.clone();
    let (job, started) =
        state
            .jobs
            .start(JobKind::AccountBalanceCheck, move |progress| async move {
                let options = VerifyOptions {
                    skip_read_models: false,
                    quiet: true,
                    progress: Some(progress),
                };
                let source = work_state.replay_source();
                match verify_live(&source, &work_state.projector, &options).await {
                    Ok(report) => Outcome::Succeeded {
                        summary: report.summary,
                        findings: report.findings,
                        rows: None,
                    },
                    Err(error) => Outcome::Failed {
                        error: error.to_string(),
                    },
                }
            });
    let dto = JobStartedDto {
        job_id: job.id,
        started,
        started_at: job.started_at,
    };
    if started {
        Answer::accepted(dto)
    } else {
        Answer::read(dto)
    }
}

/// The balance check jobs, newest first.
#[utoipa::path(get, path = "/internal/BackgroundJob/AccountBalanceCheckJob", tag = "BackgroundJob",
    responses((status = 200, description = "Every check kept", body = Envelope<Vec<JobDto>>)),
    security(("bearer" = [])))]
pub async fn list_balance_checks(State(state): State<AppState>) -> Answer<Vec<JobDto>> {
    Answer::read(
        state
            .jobs
            .list()
            .iter()
            .filter(|job| job.kind == JobKind::AccountBalanceCheck)
            .map(|job| JobDto::from(job.as_ref()))
            .collect(),
    )
}

fn job_status(state: &AppState, job_id: &str, kind: Option<JobKind>) -> Result<JobDto, ApiError> {
    let id = parse_uuid("jobId", job_id)?;
    state
        .jobs
        .get(id)
        .filter(|job| kind.is_none_or(|kind| job.kind == kind))
        .map(|job| JobDto::from(job.as_ref()))
        .ok_or_else(|| ApiError::NotFound(format!("no job {id}")))
}

/// A balance check's state, progress (events done of total, rate) and findings.
#[utoipa::path(get, path = "/internal/BackgroundJob/AccountBalanceCheckJob/{jobId}", tag = "BackgroundJob",
    params(("jobId" = Uuid, Path)),
    responses((status = 200, description = "The job", body = Envelope<JobDto>),
        (status = 400, description = "Not a uuid", body = Envelope<Object>),
        (status = 404, description = "No such job", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn get_balance_check(
    State(state): State<AppState>,
    Path(job_id): Path<String>,
) -> Result<Answer<JobDto>, ApiError> {
    Ok(Answer::read(job_status(
        &state,
        &job_id,
        Some(JobKind::AccountBalanceCheck),
    )?))
}

/// Any background job (a balance check or a daily-balance recalculation).
#[utoipa::path(get, path = "/internal/BackgroundJob/{jobId}", tag = "BackgroundJob",
    params(("jobId" = Uuid, Path)),
    responses((status = 200, description = "The job", body = Envelope<JobDto>),
        (status = 400, description = "Not a uuid", body = Envelope<Object>),
        (status = 404, description = "No such job", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn get_job(
    State(state): State<AppState>,
    Path(job_id): Path<String>,
) -> Result<Answer<JobDto>, ApiError> {
    Ok(Answer::read(job_status(&state, &job_id, None)?))
}
