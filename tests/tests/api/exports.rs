//! Exports through the API: the job runs queued → succeeded, its CSV and ZIP equal what the read
//! API answers for the same cells and window, and only the owner sees it.

use loam_tests::{Backend, Session, TestApp, backend_tests, frames};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{
    T0, assert_close, cell_with_data, json_of, numbers, read_series, rfc3339, unzip,
};

backend_tests!(
    zip_export_equals_the_read_api,
    export_job_matches_the_read_api_and_is_private,
);

fn http(ts: i64) -> String {
    loam_tests::http_date(ts)
}

/// Column `n` of a CSV's data lines, as numbers (empty = None).
fn column(csv: &str, n: usize) -> Vec<Option<f64>> {
    csv.lines()
        .skip(1)
        .map(|l| l.split(',').nth(n).and_then(|f| f.parse().ok()))
        .collect()
}

pub(crate) async fn start_export(app: &TestApp, s: &Session, body: Value) -> String {
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

pub(crate) async fn download(app: &TestApp, s: &Session, id: &str) -> Vec<u8> {
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
        assert_eq!(res.status(), 422, "{bad}");
        assert!(json_of(res).await["error"]["code"].is_string());
    }
}

async fn export_job_matches_the_read_api_and_is_private(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.signed_in("alice@example.test").await;
    let bob = app.signed_in("bob@example.test").await;
    let cell = app.cell(&alice, "alice@example.test", "exported").await;
    let logger = app.logger(&alice, "alice@example.test", "l").await;
    let key = app.device_key(&alice, logger, &["ingest"]).await;
    let t0 = 1_705_168_805_i64;
    for (k, v) in [0.5, 0.6, 0.7].into_iter().enumerate() {
        let res = app
            .upload(
                frames::power((t0 + k as i64 * 600) as u32, cell, logger, v, 0.001),
                false,
                Some(&key),
            )
            .await;
        assert_eq!(res.status(), 200);
    }
    let q = [
        ("cellIds", cell.to_string()),
        ("resample", "none".into()),
        ("startTime", http(t0 - 10)),
        ("endTime", http(t0 + 3600)),
    ];
    let started: Value = app
        .as_person(Method::GET, "/api/cell/datas", &alice)
        .query(&q)
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    let id = started["result_id"].as_str().expect("job id").to_owned();
    let job = app.wait_for_job(&alice, &id).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["progress"], json!({"done": 1, "total": 1}));
    let csv = app
        .as_person(Method::GET, &format!("/api/jobs/{id}/artifact"), &alice)
        .send()
        .await
        .expect("req")
        .text()
        .await
        .expect("csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "timestamp,vwc,temp,ec,raw_vwc,v,i,p,data,measurement,unit,type"
    );
    let volts: Vec<f64> = lines[1..]
        .iter()
        .map(|l| l.split(',').nth(5).expect("v").parse().expect("number"))
        .collect();
    let read: Value = app
        .as_person(Method::GET, &format!("/api/power/{cell}"), &alice)
        .query(&[
            ("startTime", http(t0 - 10)),
            ("endTime", http(t0 + 3600)),
            ("resample", "none".into()),
        ])
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    let want: Vec<f64> = read["v"]
        .as_array()
        .expect("v")
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    assert_eq!(volts, want);
    assert_eq!(volts, [500.0, 600.0, 700.0], "the three uploads, in mV");
    assert_eq!(
        app.as_person(Method::GET, &format!("/api/jobs/{id}"), &bob)
            .send()
            .await
            .expect("req")
            .status(),
        404
    );
    assert_eq!(
        app.as_person(Method::GET, &format!("/api/jobs/{id}/artifact"), &bob)
            .send()
            .await
            .expect("req")
            .status(),
        404
    );
    assert_eq!(app.get(&format!("/api/jobs/{id}")).await.status(), 401);
    let cancel = app
        .as_person(Method::DELETE, &format!("/api/jobs/{id}"), &alice)
        .send()
        .await
        .expect("req");
    assert_eq!(cancel.status(), 409, "a finished job cannot be cancelled");
}
