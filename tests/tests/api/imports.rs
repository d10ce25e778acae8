//! Imports of ENTS CSV files through the API: the sample files read back exactly, and a bad line
//! fails the import with its line number and writes nothing.

use loam_tests::{Backend, Session, TestApp, backend_tests};
use reqwest::Method;
use serde_json::json;

use crate::support::{assert_close, json_of, numbers, read_series};

backend_tests!(
    import_of_the_sample_files_reads_back,
    a_bad_line_fails_the_import_and_writes_nothing,
);

/// The ENTS sample files (reference §16), or an equivalent generated file when absent.
fn sample_files() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/ents-imwut");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "csv"))
                .map(|p| {
                    let name = p.file_name().expect("name").to_string_lossy().into_owned();
                    (name, std::fs::read_to_string(&p).expect("readable"))
                })
                .collect()
        })
        .unwrap_or_default();
    if files.is_empty() {
        let mut text = loam_jobs::import::HEADER.to_owned();
        for h in 0..300 {
            let ts = chrono::DateTime::from_timestamp(1_688_846_400 + h * 3600, 0).expect("time");
            let (mv, ua) = (100.0 + h as f64 * 0.25, 50.0 - h as f64 * 0.1);
            text.push_str(&format!(
                "\n{},{mv},{ua},{},{}.25,{},{}",
                ts.format(" %d %b %Y %H:%M:%S GMT"),
                mv * ua / 1000.0,
                200 + h,
                -1.2 + h as f64 * 0.001,
                18.5 + (h % 10) as f64 * 0.1
            ));
        }
        files.push(("generated.csv".into(), text));
    }
    files.sort();
    files
}

async fn import(
    app: &TestApp,
    s: &Session,
    cell: i64,
    logger: i64,
    name: &str,
    text: String,
) -> reqwest::Response {
    app.as_person(Method::POST, &format!("/api/cell/{cell}/import"), s)
        .query(&[("logger_id", logger.to_string()), ("name", name.to_owned())])
        .header("content-type", "text/csv")
        .body(text)
        .send()
        .await
        .expect("request")
}

async fn import_of_the_sample_files_reads_back(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = "import@example.test";
    let s = app.signed_in(email).await;
    let logger = app.logger(&s, email, "rocketlogger").await;
    for (name, text) in sample_files() {
        let cell = app.cell(&s, email, &name).await;
        let rows = loam_jobs::import::parse(&text).expect("the sample parses");
        let res = import(&app, &s, cell, logger, &name, text.clone()).await;
        assert_eq!(res.status(), 202, "{name}");
        let id = json_of(res).await["id"].as_str().expect("id").to_owned();
        let job = app.wait_for_job(&s, &id).await;
        assert_eq!(job["state"], "succeeded", "{name}: {job}");
        assert_eq!(job["result"]["rows"], rows.len(), "{name}");
        assert_eq!(
            job["result"]["stored"],
            2 * rows.len(),
            "{name}: a power and a TEROS row each"
        );
        assert_eq!(job["progress"]["done"], job["progress"]["total"]);
        let first = rows.first().expect("rows").ts.and_utc().timestamp();
        let last = rows.last().expect("rows").ts.and_utc().timestamp();
        let query = [
            ("startTime", loam_tests::http_date(first)),
            ("endTime", loam_tests::http_date(last)),
            ("resample", "none".to_owned()),
        ];
        let power = read_series(&app, &s, "power", cell, &query).await;
        let teros = read_series(&app, &s, "teros", cell, &query).await;
        let volts = numbers(&power["v"]);
        let ec = numbers(&teros["ec"]);
        assert_eq!(volts.len(), rows.len(), "{name}: every row reads back");
        assert_eq!(ec.len(), rows.len(), "{name}");
        for (k, row) in rows.iter().enumerate() {
            let (v, _) = row.power.expect("power");
            let (_, _, e) = row.teros.expect("teros");
            let got = volts[k].expect("v");
            assert!(
                (got - v * 1e3).abs() <= 1e-9 * got.abs().max(1.0),
                "{name} row {k}"
            );
            assert_eq!(ec[k], Some(f64::from(e)), "{name} row {k}");
        }
        // Daily means (served from rollups for whole days) equal the means of the rows.
        let mut days: std::collections::BTreeMap<i64, (f64, f64)> = Default::default();
        for row in &rows {
            let day = row.ts.and_utc().timestamp().div_euclid(86_400);
            let e = days.entry(day).or_default();
            e.0 += row.power.expect("power").0 * 1e3;
            e.1 += 1.0;
        }
        let whole_days = [
            (
                "startTime",
                loam_tests::http_date(first.div_euclid(86_400) * 86_400),
            ),
            (
                "endTime",
                loam_tests::http_date((last.div_euclid(86_400) + 1) * 86_400 - 1),
            ),
            ("resample", "day".to_owned()),
        ];
        let daily = read_series(&app, &s, "power", cell, &whole_days).await;
        let want: Vec<Option<f64>> = days.values().map(|(sum, n)| Some(sum / n)).collect();
        assert_close(&numbers(&daily["v"]), &want, &format!("{name} daily v"));
        // Importing the same file again adds nothing.
        let again = json_of(import(&app, &s, cell, logger, &name, text).await).await;
        let job = app
            .wait_for_job(&s, again["id"].as_str().expect("id"))
            .await;
        assert_eq!(
            job["result"]["stored"], 0,
            "{name}: a second import is a no-op: {job}"
        );
        let daily = read_series(&app, &s, "power", cell, &whole_days).await;
        assert_close(
            &numbers(&daily["v"]),
            &want,
            &format!("{name} daily v after a second import"),
        );
    }
}

async fn a_bad_line_fails_the_import_and_writes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = "bad@example.test";
    let s = app.signed_in(email).await;
    let logger = app.logger(&s, email, "l").await;
    let cell = app.cell(&s, email, "c").await;
    let (_, text) = sample_files().remove(0);
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[4] = " 08 Jul 2023 24:00:00 GMT,1,2,3,4,5,6".into();
    lines[9] = lines[9].replacen(',', ",abc,", 1);
    let res = import(&app, &s, cell, logger, "broken.csv", lines.join("\n")).await;
    assert_eq!(res.status(), 202);
    let id = json_of(res).await["id"].as_str().expect("id").to_owned();
    let job = app.wait_for_job(&s, &id).await;
    assert_eq!(job["state"], "failed");
    assert_eq!(job["attempts"], 1, "bad input is not retried");
    let error = job["error"].as_str().expect("error");
    assert!(error.contains("line 5: timestamp"), "{error}");
    assert!(error.contains("line 10: expected 7 fields"), "{error}");
    let power = read_series(
        &app,
        &s,
        "power",
        cell,
        &[
            ("startTime", loam_tests::http_date(0)),
            ("endTime", loam_tests::http_date(2_000_000_000)),
            ("resample", "none".into()),
        ],
    )
    .await;
    assert_eq!(power["v"], json!([]), "all or nothing");
    let teros = read_series(
        &app,
        &s,
        "teros",
        cell,
        &[
            ("startTime", loam_tests::http_date(0)),
            ("endTime", loam_tests::http_date(2_000_000_000)),
            ("resample", "none".into()),
        ],
    )
    .await;
    assert_eq!(teros["vwc"], json!([]), "all or nothing");
    // A file that is not the expected CSV is refused at once.
    let res = import(&app, &s, cell, logger, "x.csv", "a,b,c\n1,2,3".into()).await;
    assert_eq!(res.status(), 400);
    assert!(
        json_of(res).await["error"]["message"]
            .as_str()
            .expect("message")
            .contains("line 1")
    );
    // Someone else's cell or logger: 404.
    let bob = app.signed_in("bob2@example.test").await;
    let res = import(&app, &bob, cell, logger, "x.csv", text).await;
    assert_eq!(res.status(), 404);
}
