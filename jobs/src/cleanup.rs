//! The periodic cleanup: deletes job files whose time is up and forgets them on the record.
//! Every runner sweeps; two sweeping at once only delete the same file twice (ignored).

use std::path::{Path, PathBuf};
use std::time::Duration;

use loam_db::Db;

/// How often expired artifacts are deleted.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Deletes expired artifacts; returns how many were removed.
pub async fn sweep(db: &Db, artifacts: &Path) -> Result<usize, loam_db::DbError> {
    let now = loam_db::now();
    let expired = db
        .run(move |c| loam_db::jobs::expired_artifacts(c, now))
        .await?;
    let mut removed = 0;
    for (id, name) in expired {
        match tokio::fs::remove_file(artifacts.join(&name)).await {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(error = %e, artifact = %name, "could not delete an expired artifact");
                continue;
            }
        }
        db.run(move |c| loam_db::jobs::clear_artifact(c, &id))
            .await?;
    }
    if removed > 0 {
        tracing::info!(removed, "expired artifacts deleted");
    }
    Ok(removed)
}

/// Sweeps every minute, for the life of the process.
pub async fn sweep_forever(db: Db, artifacts: PathBuf) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    loop {
        tick.tick().await;
        if let Err(e) = sweep(&db, &artifacts).await {
            tracing::warn!(error = %e, "artifact cleanup failed");
        }
    }
}
