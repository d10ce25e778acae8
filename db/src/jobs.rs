//! Job records: the durable truth about long-running work. A worker claims a queued job with a
//! conditional update, so two workers never run the same job at once.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::{job_artifacts, jobs};
use crate::{DbConn, DbError};

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = jobs)]
pub struct Job {
    /// ULID.
    pub id: String,
    /// What to do, e.g. `export_cells`.
    pub kind: String,
    /// Who asked (sees and cancels it).
    pub owner_id: Option<String>,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    pub state: String,
    /// JSON arguments.
    pub payload: String,
    /// Units of work done.
    pub progress_done: i64,
    /// Units of work in all (0 while unknown).
    pub progress_total: i64,
    /// Times a worker started it.
    pub attempts: i32,
    /// Why it failed.
    pub error: Option<String>,
    /// JSON outcome (e.g. a download link).
    pub result: Option<String>,
    /// The request that created it.
    pub request_id: Option<String>,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// When the last attempt started.
    pub started_at: Option<NaiveDateTime>,
    /// When it ended.
    pub finished_at: Option<NaiveDateTime>,
    /// A retry waits until then.
    pub run_after: Option<NaiveDateTime>,
}

/// Records a new queued job.
pub fn insert(conn: &mut DbConn, job: &Job) -> Result<(), DbError> {
    diesel::insert_into(jobs::table).values(job).execute(conn)?;
    Ok(())
}

/// The kind of the periodic alert evaluation's records.
pub const ALERT_SWEEP: &str = "alert_sweep";

/// Inserts a record unless one with its id exists; true when this call inserted it (so
/// exactly one of several schedulers dispatches a job whose id they all derive alike).
pub fn insert_once(conn: &mut DbConn, job: &Job) -> Result<bool, DbError> {
    let inserted = crate::on_backend!(conn, c => diesel::insert_into(jobs::table)
        .values(job)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(inserted == 1)
}

/// Deletes ended records of `kind` last updated before `before` (periodic jobs would otherwise
/// pile up, one per period). Returns how many.
pub fn delete_ended(
    conn: &mut DbConn,
    kind: &str,
    before: NaiveDateTime,
) -> Result<usize, DbError> {
    Ok(diesel::delete(
        jobs::table
            .filter(jobs::kind.eq(kind))
            .filter(jobs::state.eq_any(["succeeded", "failed", "cancelled"]))
            .filter(jobs::updated_at.lt(before)),
    )
    .execute(conn)?)
}

/// Ids and payloads of every record of `kind`, oldest first.
pub fn kinds_and_payloads(conn: &mut DbConn, kind: &str) -> Result<Vec<(String, String)>, DbError> {
    Ok(jobs::table
        .filter(jobs::kind.eq(kind))
        .order(jobs::created_at)
        .select((jobs::id, jobs::payload))
        .load(conn)?)
}

/// The job with this id, if any.
pub fn find(conn: &mut DbConn, id: &str) -> Result<Option<Job>, DbError> {
    Ok(jobs::table
        .select(Job::as_select())
        .find(id)
        .first(conn)
        .optional()?)
}

/// A person's jobs, newest first (at most 200).
pub fn list_for_owner(conn: &mut DbConn, owner: &str) -> Result<Vec<Job>, DbError> {
    Ok(jobs::table
        .select(Job::as_select())
        .filter(jobs::owner_id.eq(owner))
        .order(jobs::created_at.desc())
        .limit(200)
        .load(conn)?)
}

/// Takes the oldest queued job and marks it running; `None` when there is nothing to do.
pub fn claim_next(conn: &mut DbConn, now: NaiveDateTime) -> Result<Option<Job>, DbError> {
    crate::write_transaction(conn, |conn| {
        let Some(id) = jobs::table
            .select(jobs::id)
            .filter(jobs::state.eq("queued"))
            .filter(jobs::run_after.is_null().or(jobs::run_after.le(now)))
            .order(jobs::created_at.asc())
            .first::<String>(conn)
            .optional()?
        else {
            return Ok(None);
        };
        let claimed = diesel::update(jobs::table.find(&id).filter(jobs::state.eq("queued")))
            .set((
                jobs::state.eq("running"),
                jobs::attempts.eq(jobs::attempts + 1),
                jobs::started_at.eq(now),
                jobs::updated_at.eq(now),
            ))
            .execute(conn)?;
        if claimed == 0 {
            return Ok(None);
        }
        find(conn, &id)
    })
}

/// Takes one job delivered by the Redis queue: a queued job, or a running one whose previous
/// holder died (the queue re-delivers only the jobs of workers that stopped sending heartbeats).
/// `None` when the job has ended, was cancelled or is unknown: the delivery is then dropped.
pub fn claim(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> Result<Option<Job>, DbError> {
    crate::write_transaction(conn, |conn| {
        let claimed = diesel::update(
            jobs::table
                .find(id)
                .filter(jobs::state.eq_any(["queued", "running"])),
        )
        .set((
            jobs::state.eq("running"),
            jobs::attempts.eq(jobs::attempts + 1),
            jobs::run_after.eq(None::<NaiveDateTime>),
            jobs::started_at.eq(now),
            jobs::updated_at.eq(now),
        ))
        .execute(conn)?;
        if claimed == 0 {
            return Ok(None);
        }
        find(conn, id)
    })
}

/// Records progress of a running job; false when it is no longer running (cancelled), which
/// tells the handler to stop.
pub fn progress(
    conn: &mut DbConn,
    id: &str,
    done: i64,
    total: i64,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let n = diesel::update(jobs::table.find(id).filter(jobs::state.eq("running")))
        .set((
            jobs::progress_done.eq(done),
            jobs::progress_total.eq(total),
            jobs::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(n > 0)
}

/// Puts a running job back in the queue, to start again no earlier than `run_after` (a retry
/// after a transient failure, or a job interrupted by a worker's shutdown). `error` says why.
pub fn requeue(
    conn: &mut DbConn,
    id: &str,
    run_after: Option<NaiveDateTime>,
    error: Option<&str>,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let n = diesel::update(jobs::table.find(id).filter(jobs::state.eq("running")))
        .set((
            jobs::state.eq("queued"),
            jobs::run_after.eq(run_after),
            jobs::error.eq(error),
            jobs::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(n > 0)
}

/// Records the file a job produced and when it expires (replacing an earlier attempt's).
pub fn set_artifact(
    conn: &mut DbConn,
    id: &str,
    name: &str,
    expires_at: NaiveDateTime,
) -> Result<(), DbError> {
    let values = (
        job_artifacts::job_id.eq(id),
        job_artifacts::name.eq(name),
        job_artifacts::expires_at.eq(expires_at),
    );
    crate::on_backend!(conn, c => diesel::insert_into(job_artifacts::table)
        .values(values)
        .on_conflict(job_artifacts::job_id)
        .do_update()
        .set((job_artifacts::name.eq(name), job_artifacts::expires_at.eq(expires_at)))
        .execute(c))?;
    Ok(())
}

/// The file a job produced, if it still exists.
pub fn artifact(conn: &mut DbConn, id: &str) -> Result<Option<String>, DbError> {
    Ok(job_artifacts::table
        .select(job_artifacts::name)
        .find(id)
        .first(conn)
        .optional()?)
}

/// The newest job of `kind` with exactly this payload that is queued, running, or succeeded
/// with its file still there (so a second request joins it instead of building it again).
pub fn find_reusable(conn: &mut DbConn, kind: &str, payload: &str) -> Result<Option<Job>, DbError> {
    let with_file = job_artifacts::table.select(job_artifacts::job_id);
    Ok(jobs::table
        .select(Job::as_select())
        .filter(jobs::kind.eq(kind))
        .filter(jobs::payload.eq(payload))
        .filter(
            jobs::state
                .eq_any(["queued", "running"])
                .or(jobs::state.eq("succeeded").and(jobs::id.eq_any(with_file))),
        )
        .order(jobs::created_at.desc())
        .first(conn)
        .optional()?)
}

/// Artifacts that expired before `now`: (job id, file name).
pub fn expired_artifacts(
    conn: &mut DbConn,
    now: NaiveDateTime,
) -> Result<Vec<(String, String)>, DbError> {
    Ok(job_artifacts::table
        .select((job_artifacts::job_id, job_artifacts::name))
        .filter(job_artifacts::expires_at.le(now))
        .load(conn)?)
}

/// Forgets a job's artifact once the file is deleted.
pub fn clear_artifact(conn: &mut DbConn, id: &str) -> Result<(), DbError> {
    diesel::delete(job_artifacts::table.find(id)).execute(conn)?;
    Ok(())
}

/// Removes a job record (one that could not be queued at all).
pub fn delete(conn: &mut DbConn, id: &str) -> Result<(), DbError> {
    diesel::delete(jobs::table.find(id)).execute(conn)?;
    Ok(())
}

/// Whether a job was cancelled (a handler checks between chunks).
pub fn state_of(conn: &mut DbConn, id: &str) -> Result<Option<String>, DbError> {
    Ok(jobs::table
        .select(jobs::state)
        .find(id)
        .first(conn)
        .optional()?)
}

/// Jobs queued and running now, and when the oldest queued one was queued (for `/metrics`).
pub fn queue_counts(conn: &mut DbConn) -> Result<(i64, i64, Option<NaiveDateTime>), DbError> {
    let queued = jobs::table
        .filter(jobs::state.eq("queued"))
        .count()
        .get_result(conn)?;
    let running = jobs::table
        .filter(jobs::state.eq("running"))
        .count()
        .get_result(conn)?;
    let oldest = jobs::table
        .filter(jobs::state.eq("queued"))
        .select(diesel::dsl::min(jobs::created_at))
        .first::<Option<NaiveDateTime>>(conn)?;
    Ok((queued, running, oldest))
}

/// Ids of jobs some runner is working on now that someone asked for: a test's server must
/// leave none behind (their writes would land after the test's assertions, or in the next
/// test's way). The periodic alert evaluation is nobody's request and is not counted.
pub fn running_ids(conn: &mut DbConn) -> Result<Vec<String>, DbError> {
    Ok(jobs::table
        .filter(jobs::state.eq("running"))
        .filter(jobs::kind.ne(ALERT_SWEEP))
        .select(jobs::id)
        .load(conn)?)
}

/// Ends a running job (a job cancelled meanwhile stays cancelled).
pub fn finish(
    conn: &mut DbConn,
    id: &str,
    state: &str,
    result: Option<&str>,
    error: Option<&str>,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(jobs::table.find(id).filter(jobs::state.eq("running")))
        .set((
            jobs::state.eq(state),
            jobs::result.eq(result),
            jobs::error.eq(error),
            jobs::finished_at.eq(now),
            jobs::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Cancels a queued or running job; false when it had already ended.
pub fn cancel(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> Result<bool, DbError> {
    let n = diesel::update(
        jobs::table
            .find(id)
            .filter(jobs::state.eq_any(["queued", "running"])),
    )
    .set((
        jobs::state.eq("cancelled"),
        jobs::finished_at.eq(now),
        jobs::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n > 0)
}

/// Puts jobs left `running` by a process that died back in the queue (at start-up of the
/// in-process runner, which is the only runner of its database).
pub fn requeue_running(conn: &mut DbConn, now: NaiveDateTime) -> Result<usize, DbError> {
    Ok(
        diesel::update(jobs::table.filter(jobs::state.eq("running")))
            .set((jobs::state.eq("queued"), jobs::updated_at.eq(now)))
            .execute(conn)?,
    )
}

/// Rewrites a job's arguments (to scrub a secret once the job no longer needs it).
pub fn set_payload(conn: &mut DbConn, id: &str, payload: &str) -> Result<(), DbError> {
    diesel::update(jobs::table.find(id))
        .set(jobs::payload.eq(payload))
        .execute(conn)?;
    Ok(())
}

/// Puts back in the queue jobs that say `running` but have not reported progress since
/// `stale_before`: their runner died (a replica without Redis, killed mid-job). Handlers report
/// progress at least every few seconds while they work, so a live job is never taken.
pub fn requeue_stale(
    conn: &mut DbConn,
    stale_before: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        jobs::table
            .filter(jobs::state.eq("running"))
            .filter(jobs::updated_at.lt(stale_before)),
    )
    .set((jobs::state.eq("queued"), jobs::updated_at.eq(now)))
    .execute(conn)?)
}
