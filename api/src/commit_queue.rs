//! The commit queue: uploads wait here for a writer, which stores whatever has gathered as one
//! group commit (`loam_db::group_commit`) and answers each upload after that commit; and the
//! background compaction of the rollup rows those commits append. Depends on nothing else in
//! the crate but its error type.

use loam_db::writes::StoreError;

use crate::error::ApiError;

/// Group commit for uploads: concurrent uploads share one transaction (a refused upload fails
/// alone; see `loam_db::group_commit`), so under load the database commits — and syncs to disk
/// — once per batch instead of once per upload. Each device still hears back only after the commit that holds its rows.
#[derive(Clone)]
pub struct CommitQueue {
    sender: tokio::sync::mpsc::Sender<Pending>,
}

type Pending = (
    loam_db::writes::UploadRows,
    chrono::NaiveDateTime,
    tokio::sync::oneshot::Sender<Result<loam_db::writes::Stored, StoreError>>,
    std::time::Instant,
);

/// An upload that waited this long for a writer is answered 503 `overloaded` instead of being
/// stored: the database is far behind, and its device has waited long enough to try again.
const MOST_QUEUED: std::time::Duration = std::time::Duration::from_secs(5);

/// Most uploads one commit carries.
const BATCH: usize = 64;

impl CommitQueue {
    /// Starts `writers` writer tasks (one on SQLite; needs a Tokio runtime); at most `queue`
    /// uploads wait for them.
    pub fn start(db: loam_db::Db, queue: usize, writers: usize) -> Self {
        let (sender, receiver) = tokio::sync::mpsc::channel::<Pending>(queue.max(1));
        // SQLite has one writer at a time whatever we do: one task with larger batches beats
        // several taking turns on the file lock. On Postgres batches lock in one global order
        // (see `loam_db::group_commit`), so writers wait for each other but never deadlock.
        let writers = match db.backend() {
            loam_db::Backend::Sqlite => 1,
            loam_db::Backend::Postgres => writers.max(1),
        };
        let receiver = std::sync::Arc::new(tokio::sync::Mutex::new(receiver));
        for _ in 0..writers {
            let (db, receiver) = (db.clone(), std::sync::Arc::clone(&receiver));
            tokio::spawn(async move {
                loop {
                    let mut batch = Vec::with_capacity(BATCH);
                    {
                        let mut rx = receiver.lock().await;
                        match rx.recv().await {
                            Some(first) => batch.push(first),
                            None => return,
                        }
                        while batch.len() < BATCH {
                            match rx.try_recv() {
                                Ok(next) => batch.push(next),
                                Err(_) => break,
                            }
                        }
                    }
                    commit(&db, batch).await;
                }
            });
        }
        if db.backend() == loam_db::Backend::Postgres {
            tokio::spawn(compact_rollups(db));
        }
        Self { sender }
    }

    /// Queues one upload for the next group commit; resolves after the commit that holds it. When the queue is full
    /// (the database is slower than the arrivals), answers 503 with `Retry-After` at once
    /// instead of waiting without bound.
    pub async fn submit(
        &self,
        upload: loam_db::writes::UploadRows,
        now: chrono::NaiveDateTime,
    ) -> Result<Result<loam_db::writes::Stored, StoreError>, ApiError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.sender
            .try_send((upload, now, reply, std::time::Instant::now()))
            .map_err(|err| match err {
                tokio::sync::mpsc::error::TrySendError::Full(_) => ApiError::Overloaded(1),
                tokio::sync::mpsc::error::TrySendError::Closed(_) => {
                    ApiError::Unavailable("the upload queue is shut down".into())
                }
            })?;
        answer.await.map_err(|_| {
            ApiError::Internal(anyhow::anyhow!(
                "the upload writer stopped before answering"
            ))
        })
    }
}

/// Buckets folded per table and round of rollup compaction.
const COMPACTION_KEYS: i64 = 5000;

/// Folds the rollup rows uploads append (see `loam_db::rollups::compact`) about once a second,
/// for as long as the process runs; replicas take turns through an advisory lock.
async fn compact_rollups(db: loam_db::Db) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        loop {
            match db
                .run(|c| loam_db::rollups::compact(c, COMPACTION_KEYS))
                .await
            {
                Ok(folded) if folded as i64 >= COMPACTION_KEYS => continue,
                Ok(_) => break,
                Err(err) => {
                    tracing::warn!(error = %err, "rollup compaction failed; retrying in a second");
                    break;
                }
            }
        }
    }
}

async fn commit(db: &loam_db::Db, batch: Vec<Pending>) {
    let now = batch.first().map_or_else(loam_db::now, |p| p.1);
    let (stale, batch): (Vec<_>, Vec<_>) =
        batch.into_iter().partition(|p| p.3.elapsed() > MOST_QUEUED);
    for (_, _, reply, _) in stale {
        let _ = reply.send(Err(StoreError::Db(loam_db::DbError::Contention(
            "the upload waited too long for the database".into(),
        ))));
    }
    if batch.is_empty() {
        return;
    }
    let (uploads, replies): (Vec<_>, Vec<_>) = batch.into_iter().map(|(u, _, r, _)| (u, r)).unzip();
    loam_metrics::global()
        .commit_batch
        .observe(uploads.len() as f64);
    match db
        .run(move |c| loam_db::group_commit::store_batch(c, &uploads, now))
        .await
    {
        Ok(results) => {
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(result);
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, size = replies.len(), "a group commit failed; its uploads are refused");
            for reply in replies {
                let _ = reply.send(Err(StoreError::Db(err.duplicate())));
            }
        }
    }
}
