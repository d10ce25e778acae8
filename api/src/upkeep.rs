//! Storage upkeep for as long as the server runs: Postgres partitions made a couple of months
//! ahead (so uploads never wait for one), and, with `LOAM_RAW_RETENTION_DAYS`, raw rows past
//! the horizon deleted while their rollups stay; the upload log behind device health trimmed. Every replica runs it; two sweeping at once
//! only find each other's rows already gone.

use std::time::Duration;

/// How often upkeep runs (and once at start).
const EVERY: Duration = Duration::from_secs(600);

/// Starts the upkeep loop (needs a Tokio runtime).
pub fn start(db: loam_db::Db, raw_retention_days: Option<u32>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            run_once(&db, raw_retention_days).await;
        }
    });
}

async fn run_once(db: &loam_db::Db, raw_retention_days: Option<u32>) {
    let now = loam_db::now();
    match db.run(move |c| loam_db::partitions::ahead(c, now)).await {
        Ok(0) => {}
        Ok(made) => tracing::info!(made, "made measurement partitions ahead"),
        Err(err) => tracing::warn!(error = %err, "could not make partitions ahead; retrying later"),
    }
    if let Err(err) = db.run(move |c| loam_db::health::fold_hours(c, now)).await {
        tracing::warn!(error = %err, "could not fold the upload log's hours; retrying later");
    }
    match db.run(move |c| loam_db::health::trim(c, now)).await {
        Ok(0) => {}
        Ok(trimmed) => tracing::info!(trimmed, "trimmed the upload log behind device health"),
        Err(err) => tracing::warn!(error = %err, "could not trim the upload log; retrying later"),
    }
    let Some(days) = raw_retention_days else {
        return;
    };
    let horizon = loam_db::retention::horizon(days, now);
    match db.run(move |c| loam_db::retention::sweep(c, horizon)).await {
        Ok(swept) if swept == loam_db::retention::Swept::default() => {}
        Ok(swept) => tracing::info!(
            partitions_dropped = swept.partitions,
            rows_deleted_in_batches = swept.rows,
            %horizon,
            "deleted raw rows past the retention horizon (rows of dropped partitions are not counted)"
        ),
        Err(err) => tracing::warn!(error = %err, "retention sweep failed; retrying later"),
    }
}
