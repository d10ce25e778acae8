//! `loam backup` taken while devices keep uploading, then `loam restore` into a fresh data
//! directory (and, on Postgres, an empty database): a server started on the restored copy has
//! every upload acknowledged before the backup began, nothing that was never acknowledged, the
//! same firmware image and the same receipt-signing key.

use std::collections::BTreeSet;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use loam_tests::{Backend, Options, TestApp, backend_tests, frames};
use reqwest::Method;

backend_tests!(a_backup_taken_under_load_restores_every_acknowledged_upload);

const T0: u32 = 1_765_000_000;

/// Runs `loam` on a data directory and database.
fn loam(data_dir: &std::path::Path, database_url: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_loam"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LOAM_DATA_DIR", data_dir);
    if let Some(url) = database_url {
        cmd.env("DATABASE_URL", url);
    }
    cmd.output().expect("loam runs")
}

fn succeeded(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The power timestamps of `cell` as the read API serves them, with a device key.
async fn stored(app: &TestApp, key: &str, cell: i64) -> BTreeSet<String> {
    let url = format!(
        "/api/power/{cell}?startTime={}&endTime={}&resample=none",
        loam_tests::http_date(i64::from(T0) - 60).replace(' ', "%20"),
        loam_tests::http_date(i64::from(T0) + 86_400).replace(' ', "%20"),
    );
    let res = app
        .client
        .get(app.url(&url))
        .header("x-api-key", key)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.expect("json");
    body["timestamp"]
        .as_array()
        .expect("timestamps")
        .iter()
        .map(|t| t.as_str().expect("text").to_owned())
        .collect()
}

async fn a_backup_taken_under_load_restores_every_acknowledged_upload(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = "backup@example.test";
    let s = app.signed_in(email).await;
    let cell = app.cell(&s, email, "kept").await;
    let logger = app.logger(&s, email, "kept-logger").await;
    let key = app
        .device_key(&s, logger, &["ingest", "read", "firmware"])
        .await;
    let image: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let form = reqwest::multipart::Form::new()
        .text("name", "kept_fw")
        .text("version", "1.0.0")
        .part(
            "file",
            reqwest::multipart::Part::bytes(image.clone()).file_name("fw.bin"),
        );
    let res = app
        .as_person(Method::POST, "/api/firmware", &s)
        .multipart(form)
        .send()
        .await
        .expect("request");
    assert_eq!(
        res.status(),
        201,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let receipt_key = app
        .get("/api/receipts/key")
        .await
        .text()
        .await
        .expect("key");

    // Devices upload without pause while the backup runs.
    let acked: Arc<Mutex<Vec<u32>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (client, url, key) = (app.client.clone(), app.url("/api/sensor/"), key.clone());
        let (acked, stop) = (Arc::clone(&acked), Arc::clone(&stop));
        tokio::spawn(async move {
            let mut ts = T0;
            while !stop.load(Ordering::Relaxed) {
                let res = client
                    .post(&url)
                    .header("content-type", "application/octet-stream")
                    .header("x-api-key", &key)
                    .body(frames::power(ts, cell, logger, 3.3, 0.01))
                    .send()
                    .await;
                if res.is_ok_and(|r| r.status() == 200) {
                    acked.lock().expect("lock").push(ts);
                }
                ts += 60;
            }
        })
    };
    let warmed =
        loam_tests::eventually(30, || async { acked.lock().expect("lock").len() >= 50 }).await;
    assert!(warmed, "uploads are acknowledged");
    let before: Vec<u32> = acked.lock().expect("lock").clone();

    let backup_dir = tempfile::tempdir().expect("temp dir");
    let out = backup_dir.path().join("backup");
    let (data_dir, url) = (
        app.config().data_dir.clone(),
        app.config().database_url.clone(),
    );
    let out_arg = out.to_string_lossy().into_owned();
    let report = tokio::task::spawn_blocking(move || {
        succeeded(&loam(
            &data_dir,
            url.as_deref(),
            &["backup", "--out", &out_arg],
        ))
    })
    .await
    .expect("backup ran");
    assert!(report.contains("backup of the"), "{report}");
    stop.store(true, Ordering::Relaxed);
    load.await.expect("load stopped");
    let all_acked: BTreeSet<String> = acked
        .lock()
        .expect("lock")
        .iter()
        .map(|ts| loam_tests::http_date(i64::from(*ts)))
        .collect();

    // A second backup into the same folder is refused rather than mixed in.
    let again = loam(
        &app.config().data_dir,
        app.config().database_url.as_deref(),
        &["backup", "--out", &out.to_string_lossy()],
    );
    assert_eq!(again.status.code(), Some(1));

    // Restore into a fresh data directory (and an empty database).
    let restored_dir = tempfile::tempdir().expect("temp dir");
    let restored_data = restored_dir.path().join("data");
    let empty_db = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => {
            let name = format!(
                "loam_restore_{}",
                ulid::Ulid::new().to_string().to_lowercase()
            );
            loam_db::testing::create_database(&loam_tests::postgres_admin_url(), &name)
                .expect("empty database");
            let admin = loam_tests::postgres_admin_url();
            let (base, _) = admin.rsplit_once('/').expect("admin URL has a database");
            Some((name.clone(), format!("{base}/{name}")))
        }
    };
    let restored_url = empty_db.as_ref().map(|(_, url)| url.clone());
    let report = succeeded(&loam(
        &restored_data,
        restored_url.as_deref(),
        &["restore", "--from", &out.to_string_lossy()],
    ));
    assert!(report.contains("restored the"), "{report}");
    // Restoring again over the restored copy is refused.
    let twice = loam(
        &restored_data,
        restored_url.as_deref(),
        &["restore", "--from", &out.to_string_lossy()],
    );
    assert_eq!(twice.status.code(), Some(1));

    // A manifest naming a path outside the backup is refused before anything is read there.
    let forged = backup_dir.path().join("forged");
    copy_dir(&out, &forged);
    let manifest_path = forged.join("loam-backup.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).expect("manifest")).expect("json");
    manifest["files"][0]["path"] = serde_json::json!("data/../../../etc/passwd");
    std::fs::write(&manifest_path, manifest.to_string()).expect("write");
    let fresh = tempfile::tempdir().expect("temp dir");
    let refused = loam(
        &fresh.path().join("data"),
        None,
        &["restore", "--from", &forged.to_string_lossy()],
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("outside the backup"));

    let restored = TestApp::spawn_with(
        backend,
        Options {
            database_url: restored_url.clone(),
            tweak: Some(Box::new(move |c| c.data_dir = restored_data)),
            ..Options::default()
        },
    )
    .await;
    let rows = stored(&restored, &key, cell).await;
    for ts in &before {
        let when = loam_tests::http_date(i64::from(*ts));
        assert!(
            rows.contains(&when),
            "acknowledged before the backup, missing: {when}"
        );
    }
    assert!(
        rows.is_subset(&all_acked),
        "only acknowledged uploads: {:?}",
        rows.difference(&all_acked).collect::<Vec<_>>()
    );
    assert_eq!(
        restored
            .get("/api/receipts/key")
            .await
            .text()
            .await
            .expect("key"),
        receipt_key,
        "the same receipt-signing key"
    );
    let download = restored
        .client
        .get(restored.url("/api/firmware/kept_fw/1.0.0/download"))
        .header("x-api-key", &key)
        .send()
        .await
        .expect("request");
    assert_eq!(download.status(), 200);
    assert_eq!(download.bytes().await.expect("bytes").to_vec(), image);
    drop(restored);
    if let Some((name, _)) = empty_db {
        let _ = loam_db::testing::drop_database(&loam_tests::postgres_admin_url(), &name);
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}
