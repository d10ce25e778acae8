//! The client against the real server: the contract (the client's operations are exactly the
//! server's spec), and `loamctl` driving a full session — login, a cell
//! and a logger, a firmware upload and verified download, a receipt verified offline, an export
//! job watched to the end and a CSV import — on both databases.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};

use loam_tests::{Backend, TestApp, backend_tests, frames};

backend_tests!(
    the_client_and_the_spec_agree,
    loamctl_drives_a_full_session,
    loamctl_administers_people
);

const EMAIL: &str = "operator@example.test";

async fn the_client_and_the_spec_agree(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let served: BTreeSet<_> = app
        .operations()
        .await
        .into_iter()
        .map(|op| (op.method, op.path))
        .collect();
    let client: BTreeSet<_> = loam_client::operations()
        .into_iter()
        .map(|(m, p)| (m.to_owned(), p.to_owned()))
        .collect();
    let missing: Vec<_> = served.difference(&client).collect();
    let stale: Vec<_> = client.difference(&served).collect();
    assert!(
        missing.is_empty(),
        "operations the client has no method for: {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "client operations the server does not serve: {stale:?}"
    );
}

/// Runs loamctl against the app; returns (status ok, stdout, stderr).
fn loamctl(
    app: &TestApp,
    token_file: &std::path::Path,
    args: &[&str],
    stdin: &str,
) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_loamctl"))
        .args(["--url", &app.url(""), "--token-file"])
        .arg(token_file)
        .args(args)
        .env_remove("LOAMCTL_TOKEN")
        .env_remove("LOAM_API_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("loamctl starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("loamctl ends");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn loamctl_drives_a_full_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let _ = app.signed_in(EMAIL).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let token = dir.path().join("token");
    let run = |args: Vec<String>, stdin: &'static str| {
        let app = &app;
        let token = token.clone();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (ok, out, err) = tokio::task::block_in_place(|| loamctl(app, &token, &args, stdin));
            (ok, out, err)
        }
    };
    let argv = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();

    // A wrong password is one clear line and a failure.
    let (ok, _, err) = run(argv(&["login", "--email", EMAIL]), "wrong-password\n").await;
    assert!(!ok);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.starts_with("loamctl: 401"), "{err}");
    let (ok, out, err) = run(argv(&["login", "--email", EMAIL]), loam_tests::PASSWORD).await;
    assert!(ok, "{err}");
    assert!(out.contains("signed in"), "{out}");

    // The access token runs out (15 minutes); the saved refresh token renews it unasked.
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&token).expect("session")).expect("json");
    let user = app
        .db(|c| loam_db::users::find_by_email(c, EMAIL))
        .await
        .expect("the account exists");
    let expired = app.state.auth().tokens.mint(
        loam_auth::TokenKind::Access,
        &user.id,
        "expired-jti",
        std::time::Duration::ZERO,
    );
    let stale =
        serde_json::json!({"access_token": expired, "refresh_token": saved["refresh_token"]});
    std::fs::write(&token, stale.to_string()).expect("write");
    let (ok, out, err) = run(argv(&["cells", "list"]), "").await;
    assert!(ok, "a renewed session works: {err}");
    assert_eq!(out.trim(), "[]", "{out}");
    let renewed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&token).expect("session")).expect("json");
    assert_ne!(
        renewed["access_token"], expired,
        "a new access token was saved"
    );
    assert_ne!(
        renewed["refresh_token"], saved["refresh_token"],
        "the refresh token rotated"
    );

    let (ok, out, err) = run(
        argv(&[
            "cells",
            "create",
            "--name",
            "plot-7",
            "--location",
            "field",
            "--lat",
            "37.0",
            "--long",
            "-122.06",
        ]),
        "",
    )
    .await;
    assert!(ok, "{err}");
    let cell: i64 = out
        .split_whitespace()
        .nth(2)
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("cell id in {out:?}"));
    let (ok, out, _) = run(argv(&["cells", "list"]), "").await;
    assert!(ok && out.contains("plot-7"), "{out}");
    let (ok, out, err) = run(argv(&["loggers", "create", "--name", "lg-7"]), "").await;
    assert!(ok, "{err}");
    let logger: i64 = out
        .split_whitespace()
        .last()
        .and_then(|id| id.parse().ok())
        .expect("logger id");
    let (ok, key, err) = run(
        argv(&[
            "keys",
            "create",
            &logger.to_string(),
            "--scopes",
            "ingest,read",
        ]),
        "",
    )
    .await;
    assert!(ok, "{err}");
    let key = key.trim().to_owned();
    assert!(key.starts_with("loam_dk_"));

    // Readings sent from a CSV as the device, then read back as a table.
    let now = chrono::Utc::now().timestamp();
    let readings = dir.path().join("readings.csv");
    std::fs::write(
        &readings,
        format!(
            "ts,voltage,current\n{},0.5,0.001\n{},0.6,0.002\n{},0.7,0.003\n",
            now - 3600,
            now - 3000,
            now - 2400
        ),
    )
    .expect("write readings");
    let (ok, out, err) = run(
        vec![
            "--api-key".into(),
            key.clone(),
            "send".into(),
            readings.display().to_string(),
            "--cell".into(),
            cell.to_string(),
            "--logger".into(),
            logger.to_string(),
        ],
        "",
    )
    .await;
    assert!(ok, "{err}");
    assert!(out.contains("3 readings stored"), "{out}");
    let (ok, out, err) = run(
        vec![
            "--api-key".into(),
            key.clone(),
            "read".into(),
            cell.to_string(),
            "--resample".into(),
            "none".into(),
        ],
        "",
    )
    .await;
    assert!(ok, "{err}");
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{out}");
    assert!(
        rows[0].contains("500.000") && rows[2].contains("700.000"),
        "{out}"
    );
    // The fleet as a table: a second logger never seen, listed after the one that uploaded.
    let (ok, _, err) = run(argv(&["loggers", "create", "--name", "lg-8"]), "").await;
    assert!(ok, "{err}");
    let (ok, out, err) = run(argv(&["health"]), "").await;
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("0 silent, 0 late, 1 ok, 1 never seen"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("ID") && lines[1].contains("SILENT"),
        "{out}"
    );
    let seen: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(
        seen[..3],
        [logger.to_string().as_str(), "lg-7", "ok"],
        "{out}"
    );
    assert_eq!(seen[6], "3", "three uploads in 24 h: {out}");
    assert!(
        lines[3].contains("lg-8") && lines[3].contains("never_seen"),
        "{out}"
    );
    let (ok, out, err) = run(argv(&["health", "--state", "never_seen"]), "").await;
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 3, "{out}");
    let (ok, _, err) = run(argv(&["health", "--state", "dead"]), "").await;
    assert!(!ok);
    assert!(err.contains("400") && err.contains("state"), "{err}");
    // Alert rules as a table; an empty history for a new rule.
    let (ok, out, err) = run(argv(&["alerts"]), "").await;
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 1, "only the header: {out}");
    // A line that is neither is refused with its line number, after what came before.
    std::fs::write(&readings, "ts,voltage,current\n1,abc,2\n").expect("write");
    let (ok, _, err) = run(
        vec![
            "--api-key".into(),
            key.clone(),
            "send".into(),
            readings.display().to_string(),
            "--cell".into(),
            cell.to_string(),
        ],
        "",
    )
    .await;
    assert!(!ok);
    assert!(err.contains("line 2") && err.contains("voltage"), "{err}");

    // Firmware: upload, list, download (then resume a truncated copy), all checksummed.
    let image: Vec<u8> = (0..9000u32).map(|i| (i % 251) as u8).collect();
    let file = dir.path().join("fw.bin");
    std::fs::write(&file, &image).expect("write image");
    let file_arg = file.display().to_string();
    let upload = argv(&[
        "firmware",
        "upload",
        &file_arg,
        "--name",
        "soil_fw",
        "--version",
        "3.1.0",
    ]);
    let (ok, out, err) = run(upload.clone(), "").await;
    assert!(ok, "{err}");
    assert!(out.contains("published soil_fw 3.1.0"), "{out}");
    let (ok, out, _) = run(argv(&["firmware", "list", "soil"]), "").await;
    assert!(ok && out.contains("3.1.0"), "{out}");
    let copy = dir.path().join("copy.bin");
    std::fs::write(&copy, &image[..4000]).expect("partial copy");
    let (ok, out, err) = run(
        vec![
            "firmware".into(),
            "download".into(),
            "soil_fw".into(),
            "3.1.0".into(),
            "--out".into(),
            copy.display().to_string(),
        ],
        "",
    )
    .await;
    assert!(ok, "{err}");
    assert!(out.contains("sha256 verified"), "{out}");
    assert_eq!(std::fs::read(&copy).expect("read"), image);
    let (ok, _, err) = run(upload.clone(), "").await;
    assert!(!ok);
    assert!(
        err.contains("409 firmware_exists") && err.contains("request id"),
        "{err}"
    );

    // A receipt from an upload, verified offline by loamctl.
    let res = app
        .client
        .post(app.url("/api/sensor/"))
        .header("content-type", "application/octet-stream")
        .header("x-api-key", &key)
        .header("loam-locator", "00112233445566778899aabbccddeeff")
        .body(frames::power(1_705_168_805, cell, logger, 0.5, 0.001))
        .send()
        .await
        .expect("upload");
    assert_eq!(res.status(), 200);
    let receipt = res.headers()["loam-receipt"]
        .to_str()
        .expect("text")
        .to_owned();
    let (ok, out, err) = run(vec!["receipt".into(), "verify".into(), receipt.clone()], "").await;
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!(
            "valid: logger {logger} locator 00112233445566778899aabbccddeeff rows 1"
        )),
        "{out}"
    );
    let mut forged = receipt.into_bytes();
    let at = forged.len() - 3;
    forged[at] = if forged[at] == b'0' { b'1' } else { b'0' };
    let (ok, _, err) = run(
        vec![
            "receipt".into(),
            "verify".into(),
            String::from_utf8(forged).expect("utf8"),
        ],
        "",
    )
    .await;
    assert!(!ok && err.contains("does not verify"), "{err}");

    // An export job, watched to the end; the ZIP holds the uploaded row.
    let zip_path = dir.path().join("export.zip");
    let (ok, out, err) = run(
        vec![
            "jobs".into(),
            "export".into(),
            "--cells".into(),
            cell.to_string(),
            "--start".into(),
            "2024-01-01T00:00:00Z".into(),
            "--end".into(),
            "2024-02-01T00:00:00Z".into(),
            "--out".into(),
            zip_path.display().to_string(),
        ],
        "",
    )
    .await;
    assert!(ok, "{err}");
    assert!(out.contains("succeeded"), "{out}");
    let mut archive =
        zip::ZipArchive::new(std::fs::File::open(&zip_path).expect("zip")).expect("a zip");
    let mut power = String::new();
    std::io::Read::read_to_string(
        &mut archive
            .by_name(&format!("cell-{cell}/power.csv"))
            .expect("power.csv"),
        &mut power,
    )
    .expect("read csv");
    assert!(
        power.contains("2024-01-13T18:00:05Z,500,1000,500"),
        "{power}"
    );

    // A CSV import job, watched to the end.
    let csv = dir.path().join("old.csv");
    std::fs::write(
        &csv,
        "timestamp,Voltage (mV),Current (uA),Power (uW),EC (uS/cm),VWC (%),Temperature (C)\n 08 Jul 2023 20:00:00 GMT,120.5,30.1,3.6,55,20.5,21.1\n",
    )
    .expect("csv");
    let (ok, out, err) = run(
        vec![
            "import".into(),
            csv.display().to_string(),
            "--cell".into(),
            cell.to_string(),
            "--logger".into(),
            logger.to_string(),
        ],
        "",
    )
    .await;
    assert!(ok, "{err}");
    assert!(out.contains("succeeded"), "{out}");
    let (ok, out, _) = run(argv(&["jobs", "list"]), "").await;
    assert!(ok && out.matches("succeeded").count() >= 2, "{out}");
}

async fn loamctl_administers_people(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let _ = app.admin("root@example.test").await;
    let _ = app.signed_in("field@example.test").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let token = dir.path().join("token");
    let run = |args: &[&str], stdin: &str| {
        tokio::task::block_in_place(|| loamctl(&app, &token, args, stdin))
    };
    let (ok, _, err) = run(
        &["login", "--email", "root@example.test"],
        loam_tests::PASSWORD,
    );
    assert!(ok, "{err}");
    let (ok, out, err) = run(&["users", "list", "--search", "FIELD"], "");
    assert!(ok, "{err}");
    assert!(
        out.contains("field@example.test") && !out.contains("root@"),
        "{out}"
    );
    for args in [
        &["users", "grant-admin", "field@example.test"][..],
        &["users", "revoke-admin", "field@example.test"][..],
        &["users", "disable", "field@example.test"][..],
        &["users", "enable", "field@example.test"][..],
    ] {
        let (ok, _, err) = run(args, "");
        assert!(ok, "{args:?}: {err}");
    }
    let (ok, out, err) = run(
        &["users", "set-password", "field@example.test"],
        "another-long-password\n",
    );
    assert!(ok && out.contains("new password set"), "{out}{err}");
    let (ok, _, err) = run(&["users", "disable", "nobody@example.test"], "");
    assert!(!ok && err.contains("no account has the email"), "{err}");
    let (ok, out, err) = run(&["users", "revoke-admin", "root@example.test"], "");
    assert!(!ok && err.contains("409"), "{out}{err}");
    let (ok, out, err) = run(&["audit"], "");
    assert!(ok, "{err}");
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(rows.len(), 5, "{out}");
    assert!(rows[0].contains("root@example.test") && rows[0].contains("set_password"));
    assert!(rows[0].contains("field@example.test"), "{out}");
    assert!(rows[4].contains("grant_admin"), "{out}");
}
