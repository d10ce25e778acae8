//! The periodic cleanup: deletes job files whose time is up and forgets them on the record, and
//! temporary files of jobs that died. Every runner sweeps; two sweeping at once only delete the
//! same file twice (ignored).

use std::path::{Path, PathBuf};
use std::time::Duration;

use loam_db::Db;

/// How often expired artifacts are deleted.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// A temporary file nobody has written to for this long belongs to a job that died.
pub const ORPHAN_AFTER: Duration = Duration::from_secs(3600);

/// Deletes a job's temporary files (`<job id>-….partial`): left by an attempt that failed, was
/// cancelled, or died with its worker, they would otherwise stay forever. Returns how many.
pub async fn remove_partials_of(artifacts: &Path, job_id: &str) -> usize {
    let prefix = format!("{job_id}-");
    remove_partials(artifacts, |name, _| name.starts_with(&prefix)).await
}

/// Deletes temporary files untouched for longer than `age` (their job died long ago); a file
/// still being written has a recent modification time and stays. Returns how many.
pub async fn remove_orphan_partials(artifacts: &Path, age: Duration) -> usize {
    remove_partials(artifacts, |_, modified| {
        modified.elapsed().is_ok_and(|idle| idle > age)
    })
    .await
}

async fn remove_partials(
    artifacts: &Path,
    doomed: impl Fn(&str, std::time::SystemTime) -> bool,
) -> usize {
    let Ok(mut entries) = tokio::fs::read_dir(artifacts).await else {
        return 0;
    };
    let mut removed = 0;
    while let Ok(Some(entry)) = entries.next_entry().await {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".partial") {
            continue;
        }
        let Ok(modified) = entry.metadata().await.and_then(|m| m.modified()) else {
            continue;
        };
        if !doomed(&name, modified) {
            continue;
        }
        match tokio::fs::remove_file(entry.path()).await {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(error = %e, file = %name, "could not delete a temporary job file")
            }
        }
    }
    removed
}

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
    let orphans = remove_orphan_partials(artifacts, ORPHAN_AFTER).await;
    if orphans > 0 {
        tracing::info!(orphans, "temporary files of dead jobs deleted");
    }
    Ok(removed + orphans)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(dir: &Path, name: &str, age: Duration) {
        let path = dir.join(name);
        let file = std::fs::File::create(&path).expect("create");
        file.set_modified(std::time::SystemTime::now() - age)
            .expect("set mtime");
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("dir")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn a_jobs_partials_go_and_old_orphans_go_but_nothing_else() {
        let dir = tempfile::tempdir().expect("dir");
        let fresh = Duration::from_secs(5);
        let old = Duration::from_secs(7200);
        touch(dir.path(), "01JOB-aa.zip.partial", fresh);
        touch(dir.path(), "01JOB-bb.zip.partial", fresh);
        touch(dir.path(), "01JOB-cc.zip", fresh);
        touch(dir.path(), "02OTHER-dd.zip.partial", fresh);
        touch(dir.path(), "03DEAD-ee.csv.partial", old);
        touch(dir.path(), "04DONE-ff.zip", old);
        assert_eq!(remove_partials_of(dir.path(), "01JOB").await, 2);
        assert_eq!(
            names(dir.path()),
            [
                "01JOB-cc.zip",
                "02OTHER-dd.zip.partial",
                "03DEAD-ee.csv.partial",
                "04DONE-ff.zip"
            ]
        );
        assert_eq!(remove_orphan_partials(dir.path(), ORPHAN_AFTER).await, 1);
        assert_eq!(
            names(dir.path()),
            ["01JOB-cc.zip", "02OTHER-dd.zip.partial", "04DONE-ff.zip"]
        );
    }
}
