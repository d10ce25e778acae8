//! `loam import` and `loam export` from a terminal: the same jobs as the API, on the database the
//! server uses, with results a person can read back through the API.

use std::io::Read;
use std::process::{Command, Output};

use loam_tests::{Backend, TestApp, backend_tests};

backend_tests!(import_then_export_from_the_command_line);

/// Runs `loam` with the server's own database and data directory.
fn loam(app: &TestApp, args: &[&str]) -> Output {
    let config = app.config();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_loam"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LOAM_DATA_DIR", &config.data_dir);
    if let Some(url) = &config.database_url {
        cmd.env("DATABASE_URL", url);
    }
    cmd.output().expect("loam runs")
}

const SAMPLE: &str =
    "timestamp,Voltage (mV),Current (uA),Power (uW),EC (uS/cm),VWC (%),Temperature (C)
 08 Jul 2023 20:00:00 GMT,1.5,0.5,0.00075,246.44,-1.26,18.7
 08 Jul 2023 21:00:00 GMT,2.5,0.25,0.000625,245.81,0.31,18.9
 08 Jul 2023 22:00:00 GMT,3.5,0.75,0.002625,244.66,-1.25,19.1";

async fn import_then_export_from_the_command_line(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = "operator@example.test";
    let s = app.signed_in(email).await;
    let cell = app.cell(&s, email, "site-1").await.to_string();
    let logger = app.logger(&s, email, "rocketlogger").await.to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("site.csv");
    std::fs::write(&csv, SAMPLE).expect("write");
    let csv = csv.to_string_lossy().into_owned();

    let out = loam(
        &app,
        &["import", &csv, "--cell", &cell, "--logger", &logger],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("site.csv: 3 lines, 6 measurements stored"),
        "{stdout}"
    );

    let zip_path = dir.path().join("out.zip");
    let zip_arg = zip_path.to_string_lossy().into_owned();
    let out = loam(
        &app,
        &[
            "export",
            "--cell",
            &cell,
            "--start",
            "2023-07-08T00:00:00Z",
            "--out",
            &zip_arg,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("exported 6 rows"));
    let mut archive =
        zip::ZipArchive::new(std::fs::File::open(&zip_path).expect("zip")).expect("a ZIP");
    let mut power = String::new();
    archive
        .by_name(&format!("cell-{cell}/power.csv"))
        .expect("power.csv")
        .read_to_string(&mut power)
        .expect("text");
    // The file's own power column (µW), from volts × amps.
    let lines: Vec<&str> = power.lines().collect();
    assert_eq!(lines[0], "timestamp,v_mV,i_uA,p_uW");
    assert_eq!(lines[1], "2023-07-08T20:00:00Z,1.5,0.5,0.00075");
    assert_eq!(lines[2], "2023-07-08T21:00:00Z,2.5,0.25,0.000625");
    assert!(
        lines[3].starts_with("2023-07-08T22:00:00Z,3.5,0.75,0.00262"),
        "{power}"
    );
    assert_eq!(lines.len(), 4);

    // A bad file: a clear one-line error naming the line, exit status 2, nothing written.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, SAMPLE.replace("2.5,0.25", "2.5,lots")).expect("write");
    let out = loam(
        &app,
        &[
            "import",
            &bad.to_string_lossy(),
            "--cell",
            &cell,
            "--logger",
            &logger,
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 3: current \"lots\" is not a number"),
        "{stderr}"
    );
    let out = loam(
        &app,
        &["import", &csv, "--cell", "999", "--logger", &logger],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("cell 999 does not exist"));
}
