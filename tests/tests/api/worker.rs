//! The jobs of the worker issue through the API: ZIP export equal to the read API, import of the
//! ENTS sample files with read-back, a bad line reported and nothing written, open-data months,
//! TTN sync against a loopback stand-in, and (with Redis) the queue, its worker, and Redis down.

use std::io::Read;
use std::sync::{Arc, Mutex};

use loam_tests::{
    Backend, Options, Session, TestApp, TestRedis, ToggleProxy, backend_tests, frames,
};
use reqwest::Method;
use serde_json::{Value, json};

backend_tests!(
    zip_export_equals_the_read_api,
    import_of_the_sample_files_reads_back,
    a_bad_line_fails_the_import_and_writes_nothing,
    opendata_month_is_built_then_served,
    ttn_sync_goes_through_the_loopback_stand_in,
    a_job_whose_runner_died_is_taken_over
);

const T0: i64 = 1_705_168_805; // 2024-01-13 18:00:05 UTC

async fn json_of(res: reqwest::Response) -> Value {
    res.json().await.expect("json body")
}

/// A person with a cell and a logger holding three power rows and two TEROS rows.
async fn cell_with_data(app: &TestApp, email: &str) -> (Session, i64, i64) {
    let s = app.signed_in(email).await;
    let cell = app.cell(&s, email, "exported").await;
    let logger = app.logger(&s, email, "l").await;
    let key = app.device_key(&s, logger, &["ingest"]).await;
    for (k, v) in [0.5, 0.6, 0.7].into_iter().enumerate() {
        let frame = frames::power(
            (T0 + k as i64 * 1200) as u32,
            cell,
            logger,
            v,
            0.001 * (k + 1) as f64,
        );
        assert_eq!(app.upload(frame, false, Some(&key)).await.status(), 200);
    }
    for (k, vwc) in [0.25, 0.31].into_iter().enumerate() {
        let frame = frames::teros12(
            (T0 + k as i64 * 1800) as u32,
            cell,
            logger,
            2100.0,
            vwc,
            21.5,
            150 + k as u32,
        );
        assert_eq!(app.upload(frame, false, Some(&key)).await.status(), 200);
    }
    (s, cell, logger)
}

fn rfc3339(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .expect("time")
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The files of a ZIP, by name.
fn unzip(bytes: &[u8]) -> std::collections::BTreeMap<String, String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a ZIP");
    let mut files = std::collections::BTreeMap::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).expect("entry");
        let mut text = String::new();
        file.read_to_string(&mut text).expect("UTF-8");
        files.insert(file.name().expect("entry name").to_string(), text);
    }
    files
}

/// Column `n` of a CSV's data lines, as numbers (empty = None).
fn column(csv: &str, n: usize) -> Vec<Option<f64>> {
    csv.lines()
        .skip(1)
        .map(|l| l.split(',').nth(n).and_then(|f| f.parse().ok()))
        .collect()
}

/// Equal within a few ULPs: serde_json's default float parser may be one ULP off.
fn assert_close(got: &[Option<f64>], want: &[Option<f64>], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: {got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        match (g, w) {
            (Some(g), Some(w)) => assert!(
                (g - w).abs() <= 1e-12 * w.abs().max(1.0),
                "{what}: {g} vs {w}"
            ),
            _ => assert_eq!(g, w, "{what}"),
        }
    }
}

fn numbers(v: &Value) -> Vec<Option<f64>> {
    v.as_array()
        .expect("array")
        .iter()
        .map(Value::as_f64)
        .collect()
}

async fn start_export(app: &TestApp, s: &Session, body: Value) -> String {
    let res = app
        .as_person(Method::POST, "/api/exports", s)
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 202, "{:?}", res.text().await);
    let location = res.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let job = json_of(res).await;
    assert_eq!(
        location,
        format!("/api/jobs/{}", job["id"].as_str().expect("id"))
    );
    job["id"].as_str().expect("id").to_owned()
}

async fn download(app: &TestApp, s: &Session, id: &str) -> Vec<u8> {
    let res = app
        .as_person(Method::GET, &format!("/api/jobs/{id}/artifact"), s)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/zip");
    res.bytes().await.expect("bytes").to_vec()
}

async fn zip_export_equals_the_read_api(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (s, cell, _) = cell_with_data(&app, "zip@example.test").await;
    for resample in ["none", "hour"] {
        let id = start_export(
            &app,
            &s,
            json!({"cell_ids": [cell], "start": rfc3339(T0 - 60), "end": rfc3339(T0 + 7200),
                   "resample": resample}),
        )
        .await;
        let job = app.wait_for_job(&s, &id).await;
        assert_eq!(job["state"], "succeeded", "{job}");
        let files = unzip(&download(&app, &s, &id).await);
        // ENTS's polling endpoint knows only its CSV exports; a ZIP is no CSV text.
        let status = app
            .as_person(Method::GET, &format!("/api/status/{id}"), &s)
            .send()
            .await
            .expect("request");
        assert_eq!(status.status(), 404);
        assert_eq!(json_of(status).await["error"]["code"], "not_found");
        let power = &files[&format!("cell-{cell}/power.csv")];
        let teros = &files[&format!("cell-{cell}/teros.csv")];
        assert!(power.starts_with("timestamp,v_mV,i_uA,p_uW\n"));
        assert!(teros.starts_with("timestamp,vwc_percent,raw_vwc,temp_C,ec_uS_cm\n"));
        let query = [
            ("startTime", loam_tests::http_date(T0 - 60)),
            ("endTime", loam_tests::http_date(T0 + 7200)),
            ("resample", resample.to_owned()),
        ];
        let read = read_series(&app, &s, "power", cell, &query).await;
        assert_close(
            &column(power, 1),
            &numbers(&read["v"]),
            &format!("{resample} v"),
        );
        assert_close(
            &column(power, 2),
            &numbers(&read["i"]),
            &format!("{resample} i"),
        );
        assert_close(
            &column(power, 3),
            &numbers(&read["p"]),
            &format!("{resample} p"),
        );
        let read = read_series(&app, &s, "teros", cell, &query).await;
        assert_close(
            &column(teros, 1),
            &numbers(&read["vwc"]),
            &format!("{resample} vwc"),
        );
        assert_close(
            &column(teros, 4),
            &numbers(&read["ec"]),
            &format!("{resample} ec"),
        );
        if resample == "none" {
            assert_eq!(power.lines().count(), 4);
            assert!(
                power
                    .lines()
                    .nth(1)
                    .expect("row")
                    .starts_with("2024-01-13T18:00:05Z,500,")
            );
        }
    }
    // Another person's cell is not exportable; bad requests are 4xx with a JSON error.
    let bob = app.signed_in("bob@example.test").await;
    let res = app
        .as_person(Method::POST, "/api/exports", &bob)
        .json(&json!({"cell_ids": [cell], "start": rfc3339(T0), "end": rfc3339(T0 + 1)}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 404);
    for bad in [
        json!({"cell_ids": [], "start": rfc3339(T0), "end": rfc3339(T0)}),
        json!({"cell_ids": [cell], "start": "yesterday", "end": rfc3339(T0)}),
        json!({"cell_ids": [cell], "start": rfc3339(T0), "end": rfc3339(T0), "resample": "week"}),
    ] {
        let res = app
            .as_person(Method::POST, "/api/exports", &s)
            .json(&bad)
            .send()
            .await
            .expect("request");
        assert!(res.status().is_client_error(), "{bad}: {}", res.status());
        assert!(json_of(res).await["error"]["code"].is_string());
    }
}

/// A cell's series as the read API serves it (`kind` is `power` or `teros`).
async fn read_series(
    app: &TestApp,
    s: &Session,
    kind: &str,
    cell: i64,
    query: &[(&str, String)],
) -> Value {
    let res = app
        .as_person(Method::GET, &format!("/api/{kind}/{cell}"), s)
        .query(query)
        .send()
        .await
        .expect("request");
    json_of(res).await
}

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

async fn opendata_month_is_built_then_served(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (s, cell, _) = cell_with_data(&app, "open@example.test").await;
    let res = app
        .as_person(Method::PUT, &format!("/api/cell/{cell}"), &s)
        .json(&json!({"public": true}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    let url = "/api/opendata?year=2024&month=1";
    let first = app.get(url).await;
    assert_eq!(first.status(), 202);
    assert!(
        first.headers()["location"]
            .to_str()
            .expect("location")
            .starts_with("/api/opendata?year=2024&month=1")
    );
    let mut served = None;
    for _ in 0..300 {
        let res = app.get(url).await;
        if res.status() == 200 {
            served = Some(res);
            break;
        }
        assert_eq!(res.status(), 202);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let res = served.expect("the month was built");
    assert_eq!(
        res.headers()["content-disposition"],
        "attachment; filename=\"loam-opendata-dirty-2024-01.zip\""
    );
    let files = unzip(&res.bytes().await.expect("bytes"));
    assert_eq!(files[&format!("cell-{cell}/power.csv")].lines().count(), 4);
    // The clean variant exists only once an administrator approved the month.
    let clean = "/api/opendata?year=2024&month=1&variant=clean";
    let res = app.get(clean).await;
    assert_eq!(res.status(), 404);
    assert!(
        json_of(res).await["error"]["message"]
            .as_str()
            .expect("message")
            .contains("not been approved")
    );
    let admin = app.admin("root2@example.test").await;
    let ok = app
        .as_person(
            Method::POST,
            "/api/opendata/approve?year=2024&month=1",
            &admin,
        )
        .send()
        .await
        .expect("request");
    assert_eq!(ok.status(), 200);
    assert_eq!(app.get(clean).await.status(), 202);
    let mut status = 0;
    for _ in 0..300 {
        status = app.get(clean).await.status().as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200);
    assert_eq!(
        app.get("/api/opendata?year=2024&month=1&variant=shiny")
            .await
            .status(),
        400
    );
}

/// What the TTN stand-in saw: (method, path, authorization, body).
type Seen = Arc<Mutex<Vec<(String, String, String, Value)>>>;

/// A loopback HTTP server answering like TTN's API: success, except 403 on deletes and 500 on
/// status lookups.
async fn ttn_stand_in() -> (String, Seen) {
    use axum::extract::Request;
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |req: Request| {
        let log = log.clone();
        async move {
            let (parts, body) = req.into_parts();
            let bytes = axum::body::to_bytes(body, 1 << 20)
                .await
                .unwrap_or_default();
            let auth = parts
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let deleted = {
                let mut log = log.lock().expect("lock");
                log.push((
                    parts.method.to_string(),
                    parts.uri.path().to_owned(),
                    auth,
                    serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                ));
                log.iter().any(|call| call.0 == "DELETE")
            };
            match parts.method.as_str() {
                // The registry answers lookups until someone tries to delete a device.
                "GET" if !deleted => (
                    axum::http::StatusCode::OK,
                    axum::Json(json!({"ids": {"device_id": "dirtviz-x"}, "name": "field-7"})),
                ),
                "DELETE" => (
                    axum::http::StatusCode::FORBIDDEN,
                    axum::Json(json!({"message": "no rights to delete devices"})),
                ),
                "GET" => (
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    axum::Json(json!({"message": "registry down"})),
                ),
                _ => (
                    axum::http::StatusCode::OK,
                    axum::Json(json!({"ids": {"device_id": "x"}})),
                ),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("stand-in") });
    (format!("http://{addr}"), seen)
}

async fn ttn_sync_goes_through_the_loopback_stand_in(backend: Backend) {
    let (base, seen) = ttn_stand_in().await;
    let app = TestApp::spawn_with(
        backend,
        Options {
            tweak: Some(Box::new(move |c| {
                c.ttn_api_url = base;
                c.ttn_app_id = Some("loam-test-app".into());
                c.ttn_api_key = Some(loam_config::Secret::new("NNSXS.server-token"));
            })),
            ..Options::default()
        },
    )
    .await;
    let email = "ttn@example.test";
    let s = app.signed_in(email).await;
    let logger = app.logger(&s, email, "field-7").await;
    let register = json!({"dev_eui": "70-B3-D5-7E-D0-00-AB-CD", "join_eui": "0000000000000001",
                          "app_key": "00112233445566778899AABBCCDDEEFF"});
    let res = app
        .as_person(Method::POST, &format!("/api/logger/{logger}/ttn"), &s)
        .json(&register)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 202);
    let id = json_of(res).await["id"].as_str().expect("id").to_owned();
    let job = app.wait_for_job(&s, &id).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["result"]["ttn_device_id"], format!("dirtviz-{logger}"));
    {
        let calls = seen.lock().expect("lock");
        let paths: Vec<&str> = calls.iter().map(|c| c.1.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/api/v3/applications/loam-test-app/devices".to_owned(),
                format!("/api/v3/ns/applications/loam-test-app/devices/dirtviz-{logger}"),
                "/api/v3/as/applications/loam-test-app/devices".to_owned(),
                "/api/v3/js/applications/loam-test-app/devices".to_owned(),
            ]
        );
        assert!(calls.iter().all(|c| c.2 == "Bearer NNSXS.server-token"));
        assert_eq!(
            calls[0].3["end_device"]["ids"]["dev_eui"],
            "70B3D57ED000ABCD"
        );
    }
    // The synchronous lookup passes the registry's document on.
    let res = app
        .as_person(Method::GET, &format!("/api/logger/{logger}/ttn"), &s)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    assert_eq!(json_of(res).await["name"], "field-7");
    seen.lock().expect("lock").pop();
    // Loggers that do not exist (or are not the caller's) are 404 before anything goes upstream.
    for method in [Method::GET, Method::POST, Method::DELETE] {
        let res = app
            .as_person(method.clone(), "/api/logger/987654/ttn", &s)
            .json(&register)
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 404, "{method}");
    }
    assert_eq!(seen.lock().expect("lock").len(), 4, "nothing went upstream");
    let stored = app
        .state
        .db()
        .run(move |c| loam_db::jobs::find(c, &id))
        .await
        .expect("db")
        .expect("job");
    assert!(
        !stored.payload.contains("00112233445566778899AABBCCDDEEFF"),
        "the app key is scrubbed"
    );
    // An upstream refusal fails the job with the upstream's message, without retries.
    let res = app
        .as_person(Method::DELETE, &format!("/api/logger/{logger}/ttn"), &s)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 202);
    let job = app
        .wait_for_job(&s, json_of(res).await["id"].as_str().expect("id"))
        .await;
    assert_eq!(job["state"], "failed");
    assert_eq!(job["attempts"], 1);
    assert!(
        job["error"]
            .as_str()
            .expect("error")
            .contains("no rights to delete devices"),
        "{job}"
    );
    // The synchronous lookup wraps an upstream failure as 502 JSON.
    let res = app
        .as_person(Method::GET, &format!("/api/logger/{logger}/ttn"), &s)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 502);
    assert!(
        json_of(res).await["error"]["message"]
            .as_str()
            .expect("message")
            .contains("registry down")
    );
    // Bad credentials never leave the server.
    let res = app
        .as_person(Method::POST, &format!("/api/logger/{logger}/ttn"), &s)
        .json(&json!({"dev_eui": "zz", "join_eui": "0000000000000001", "app_key": "00112233445566778899AABBCCDDEEFF"}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 422);
}

async fn redis_app(redis: &TestRedis, url: String) -> TestApp {
    let prefix = redis.prefix.clone();
    TestApp::spawn_with(
        Backend::Postgres,
        Options {
            redis_url: Some(url),
            tweak: Some(Box::new(move |c| c.redis_prefix = prefix)),
            ..Options::default()
        },
    )
    .await
}

/// With Redis the API only queues; a worker runs the job, and the request id travels with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "services"),
    ignore = "needs Postgres and Redis: run with --features services"
)]
async fn redis_queue_runs_jobs_on_a_worker_with_the_request_id() {
    let redis = TestRedis::new();
    let app = redis_app(&redis, redis.url.clone()).await;
    let (s, cell, _) = cell_with_data(&app, "queue@example.test").await;
    let res = app
        .as_person(Method::POST, "/api/exports", &s)
        .header("x-request-id", "req-worker-trace-1")
        .json(&json!({"cell_ids": [cell], "start": rfc3339(T0 - 60), "end": rfc3339(T0 + 7200)}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 202);
    let id = json_of(res).await["id"].as_str().expect("id").to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let job = json_of(
        app.as_person(Method::GET, &format!("/api/jobs/{id}"), &s)
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(
        job["state"], "queued",
        "no worker yet: the API does not run jobs itself"
    );
    // A queued job can be cancelled; its delivery is then dropped by the worker.
    let doomed = start_export(
        &app,
        &s,
        json!({"cell_ids": [cell], "start": rfc3339(T0), "end": rfc3339(T0 + 1)}),
    )
    .await;
    let res = app
        .as_person(Method::DELETE, &format!("/api/jobs/{doomed}"), &s)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    let worker = app.start_worker();
    let job = app.wait_for_job(&s, &id).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["request_id"], "req-worker-trace-1");
    assert_eq!(job["attempts"], 1);
    let files = unzip(&download(&app, &s, &id).await);
    assert_eq!(files[&format!("cell-{cell}/power.csv")].lines().count(), 4);
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let cancelled = json_of(
        app.as_person(Method::GET, &format!("/api/jobs/{doomed}"), &s)
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(cancelled["state"], "cancelled");
    assert_eq!(cancelled["attempts"], 0, "a cancelled job never runs");
    worker.stop().await;
}

/// Redis down: uploads and reads go on, enqueueing answers 503, readiness says so; all recover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "services"),
    ignore = "needs Postgres and Redis: run with --features services"
)]
async fn redis_down_keeps_ingest_and_refuses_to_enqueue() {
    let redis = TestRedis::new();
    let proxy = ToggleProxy::start(loam_tests::socket_addr_of(&redis.url)).await;
    let app = redis_app(&redis, format!("redis://{}", proxy.addr())).await;
    let (s, cell, logger) = cell_with_data(&app, "down@example.test").await;
    let key = app.device_key(&s, logger, &["ingest"]).await;
    proxy.down();
    let frame = frames::power((T0 + 9000) as u32, cell, logger, 0.9, 0.002);
    assert_eq!(
        app.upload(frame, false, Some(&key)).await.status(),
        200,
        "ingest keeps working"
    );
    let read = app
        .as_person(Method::GET, &format!("/api/power/{cell}"), &s)
        .query(&[
            ("startTime", loam_tests::http_date(T0 - 60)),
            ("endTime", loam_tests::http_date(T0 + 10_000)),
            ("resample", "none".into()),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(read.status(), 200);
    assert_eq!(json_of(read).await["v"].as_array().expect("v").len(), 4);
    let res = app
        .as_person(Method::POST, "/api/exports", &s)
        .json(&json!({"cell_ids": [cell], "start": rfc3339(T0), "end": rfc3339(T0 + 1)}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 503);
    let body = json_of(res).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("job queue"),
        "{body}"
    );
    let jobs = json_of(
        app.as_person(Method::GET, "/api/jobs", &s)
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(jobs, json!([]), "a refused job leaves no record");
    // Every other enqueueing endpoint refuses the same way.
    let import = app
        .as_person(Method::POST, &format!("/api/cell/{cell}/import"), &s)
        .query(&[
            ("logger_id", logger.to_string()),
            ("name", "old.csv".into()),
        ])
        .header("content-type", "text/csv")
        .body("timestamp,Voltage (mV),Current (uA),Power (uW),EC (uS/cm),VWC (%),Temperature (C)\n")
        .send()
        .await
        .expect("request");
    assert_eq!(import.status(), 503);
    let open_data = app.get("/api/opendata?year=2025&month=6").await;
    assert_eq!(open_data.status(), 503);
    assert_eq!(
        json_of(open_data).await["error"]["code"],
        "queue_unavailable"
    );
    assert_eq!(app.get("/readyz").await.status(), 503);
    proxy.up();
    let mut status = 0;
    for _ in 0..50 {
        let res = app
            .as_person(Method::POST, "/api/exports", &s)
            .json(&json!({"cell_ids": [cell], "start": rfc3339(T0), "end": rfc3339(T0 + 1)}))
            .send()
            .await
            .expect("request");
        status = res.status().as_u16();
        if status == 202 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(status, 202, "enqueueing recovers without a restart");
}

/// Without Redis, a job left `running` by a runner that died (a replica killed mid-job) is
/// queued again once it has been silent too long, and then completes; a live one is left alone.
async fn a_job_whose_runner_died_is_taken_over(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (s, cell, _) = cell_with_data(&app, "stale@example.test").await;
    let owner = app
        .state
        .db()
        .run(|c| loam_db::users::find_by_email(c, "stale@example.test"))
        .await
        .expect("db")
        .expect("user")
        .id;
    let payload = loam_jobs::Payload::Export(loam_jobs::ExportZip {
        cell_ids: vec![cell as i32],
        start: chrono::DateTime::from_timestamp(T0 - 60, 0)
            .expect("t")
            .naive_utc(),
        end: chrono::DateTime::from_timestamp(T0 + 7200, 0)
            .expect("t")
            .naive_utc(),
        resample: "none".into(),
        series: Vec::new(),
    });
    let record = |id: &str, silent_for: chrono::Duration| {
        let now = loam_db::now();
        loam_db::jobs::Job {
            id: id.to_owned(),
            kind: payload.kind().to_owned(),
            owner_id: Some(owner.clone()),
            state: "running".into(),
            payload: serde_json::to_string(&payload).expect("json"),
            progress_done: 0,
            progress_total: 1,
            attempts: 1,
            error: None,
            result: None,
            request_id: Some("req-orphan".into()),
            created_at: now - silent_for,
            updated_at: now - silent_for,
            started_at: Some(now - silent_for),
            finished_at: None,
            run_after: None,
        }
    };
    let (dead, alive) = (ulid::Ulid::new().to_string(), ulid::Ulid::new().to_string());
    let jobs = [
        record(&dead, chrono::Duration::hours(1)),
        record(&alive, chrono::Duration::seconds(5)),
    ];
    app.state
        .db()
        .run(move |c| {
            for job in &jobs {
                loam_db::jobs::insert(c, job)?;
            }
            Ok(())
        })
        .await
        .expect("inserted");
    let taken = loam_jobs::requeue_stale(app.state.db())
        .await
        .expect("sweep");
    assert_eq!(taken, 1, "only the silent job");
    let job = app.wait_for_job(&s, &dead).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["attempts"], 2);
    let untouched = json_of(
        app.as_person(Method::GET, &format!("/api/jobs/{alive}"), &s)
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(untouched["state"], "running");
    assert_eq!(untouched["attempts"], 1);
}
