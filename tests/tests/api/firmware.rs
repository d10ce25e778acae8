//! The firmware registry: publishing (people, keys with the firmware scope), validation, the size
//! limit and duplicates leaving nothing behind, search and versions, downloads with ETag and
//! Range resume, deletion, and each logger's desired image.

use loam_tests::{Backend, Options, Session, TestApp, backend_tests};
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use sha2::Digest;

backend_tests!(
    firmware_is_published_found_and_downloaded_with_resume,
    refused_uploads_leave_neither_row_nor_file,
    who_may_publish_and_delete,
    loggers_learn_what_to_install,
    shared_bytes_survive_a_delete_racing_a_publish,
);

const OWNER: &str = "owner@example.test";

fn form(name: &str, version: &str, bytes: Vec<u8>) -> Form {
    Form::new()
        .text("name", name.to_owned())
        .text("version", version.to_owned())
        .text("notes", "test build")
        .part("file", Part::bytes(bytes).file_name("firmware.bin"))
}

async fn publish(
    app: &TestApp,
    session: &Session,
    name: &str,
    version: &str,
    bytes: Vec<u8>,
) -> reqwest::Response {
    app.as_person(Method::POST, "/api/firmware", session)
        .multipart(form(name, version, bytes))
        .send()
        .await
        .expect("request")
}

/// `GET path` as `session`, decoded as JSON.
async fn get_json(app: &TestApp, session: &Session, path: &str) -> Value {
    app.as_person(Method::GET, path, session)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json")
}

fn blob(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Files in the firmware store (images and leftovers of any kind).
fn stored_files(app: &TestApp) -> Vec<String> {
    let root = app.config().data_dir.join("firmware");
    let mut files = Vec::new();
    for dir in [root.clone(), root.join("tmp")] {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                if e.path().is_file() {
                    files.push(e.file_name().to_string_lossy().into_owned());
                }
            }
        }
    }
    files.sort();
    files
}

async fn count_rows(app: &TestApp) -> i64 {
    app.db(|c| loam_db::firmware::search(c, None, 1, 0)).await.1
}

async fn firmware_is_published_found_and_downloaded_with_resume(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.signed_in(OWNER).await;
    let old = blob(5000, 1);
    let new = blob(7000, 2);
    let res = publish(&app, &alice, "soil_fw", "1.0.0", old.clone()).await;
    assert_eq!(res.status(), 201);
    let meta: Value = res.json().await.expect("json");
    assert_eq!(meta["sha256"], hex::encode(sha2::Sha256::digest(&old)));
    assert_eq!(meta["size"], 5000);
    assert_eq!(meta["notes"], "test build");
    assert_eq!(
        publish(&app, &alice, "soil_fw", "1.1.0", new.clone())
            .await
            .status(),
        201
    );
    assert_eq!(
        publish(&app, &alice, "other", "0.1", blob(10, 3))
            .await
            .status(),
        201
    );

    let search: Value = get_json(&app, &alice, "/api/firmware?search=il_f").await;
    assert_eq!(search["total"], 2);
    let versions: Vec<&str> = search["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["version"].as_str().expect("version"))
        .collect();
    assert_eq!(versions, ["1.1.0", "1.0.0"]);
    let paged: Value = get_json(&app, &alice, "/api/firmware?limit=1&offset=1").await;
    assert_eq!(
        (
            paged["total"].as_i64(),
            paged["items"].as_array().map(Vec::len)
        ),
        (Some(3), Some(1))
    );
    let bad_page = app
        .as_person(Method::GET, "/api/firmware?limit=-1", &alice)
        .send()
        .await
        .expect("request");
    assert_eq!(bad_page.status(), 400);
    let listed: Value = get_json(&app, &alice, "/api/firmware/soil_fw").await;
    assert_eq!(listed["versions"][0]["version"], "1.1.0", "newest first");
    assert_eq!(listed["versions"][1]["version"], "1.0.0");
    let missing = app
        .as_person(Method::GET, "/api/firmware/nothing", &alice)
        .send()
        .await
        .expect("request");
    assert_eq!(missing.status(), 404);

    let path = "/api/firmware/soil_fw/1.0.0/download";
    let whole = app
        .as_person(Method::GET, path, &alice)
        .send()
        .await
        .expect("request");
    assert_eq!(whole.status(), 200);
    let etag = whole.headers()["etag"].to_str().expect("etag").to_owned();
    assert_eq!(
        etag,
        format!("\"{}\"", hex::encode(sha2::Sha256::digest(&old)))
    );
    assert!(
        whole.headers()["content-disposition"]
            .to_str()
            .expect("text")
            .contains("soil_fw-1.0.0.bin")
    );
    assert_eq!(whole.bytes().await.expect("bytes").to_vec(), old);

    // A flaky link resumes: the first 1,000 bytes, then the rest from there.
    let head = app
        .as_person(Method::GET, path, &alice)
        .header("range", "bytes=0-999")
        .send()
        .await
        .expect("request");
    assert_eq!(head.status(), 206);
    assert_eq!(head.headers()["content-range"], "bytes 0-999/5000");
    let mut resumed = head.bytes().await.expect("bytes").to_vec();
    let tail = app
        .as_person(Method::GET, path, &alice)
        .header("range", "bytes=1000-")
        .header("if-range", &etag)
        .send()
        .await
        .expect("request");
    assert_eq!(tail.status(), 206);
    assert_eq!(tail.headers()["content-range"], "bytes 1000-4999/5000");
    resumed.extend_from_slice(&tail.bytes().await.expect("bytes"));
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&resumed)),
        etag.trim_matches('"')
    );
    let suffix = app
        .as_person(Method::GET, path, &alice)
        .header("range", "bytes=-10")
        .send()
        .await
        .expect("request");
    assert_eq!(
        suffix.bytes().await.expect("bytes").to_vec(),
        old[4990..].to_vec()
    );
    let stale = app
        .as_person(Method::GET, path, &alice)
        .header("range", "bytes=1000-")
        .header("if-range", "\"another\"")
        .send()
        .await
        .expect("request");
    assert_eq!(stale.status(), 200, "a changed ETag sends the whole image");
    let outside = app
        .as_person(Method::GET, path, &alice)
        .header("range", "bytes=6000-")
        .send()
        .await
        .expect("request");
    assert_eq!(outside.status(), 416);
    assert_eq!(outside.headers()["content-range"], "bytes */5000");
    let cached = app
        .as_person(Method::GET, path, &alice)
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("request");
    assert_eq!(cached.status(), 304);
}

async fn refused_uploads_leave_neither_row_nor_file(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        Options {
            tweak: Some(Box::new(|c: &mut loam_config::Config| {
                c.firmware_max_bytes = 4096
            })),
            ..Options::default()
        },
    )
    .await;
    let alice = app.signed_in(OWNER).await;
    assert_eq!(
        publish(&app, &alice, "fw", "1.0.0", blob(4096, 1))
            .await
            .status(),
        201
    );
    let files = stored_files(&app);
    assert_eq!(files.len(), 1);

    let too_big = publish(&app, &alice, "fw", "2.0.0", blob(4097, 2)).await;
    assert_eq!(too_big.status(), 413);
    let err: Value = too_big.json().await.expect("json");
    assert_eq!(err["error"]["code"], "firmware_too_large");
    assert_eq!(err["error"]["details"]["number"], 1103);

    let duplicate = publish(&app, &alice, "fw", "1.0.0", blob(100, 3)).await;
    assert_eq!(duplicate.status(), 409);
    assert_eq!(
        duplicate.json::<Value>().await.expect("json")["error"]["code"],
        "firmware_exists"
    );

    for (name, version, code) in [
        ("bad name", "1", "firmware_name_invalid"),
        ("../etc", "1", "firmware_name_invalid"),
        ("", "1", "firmware_name_invalid"),
        (&"n".repeat(300), "1", "firmware_name_invalid"),
        ("ok", "1.0/0", "firmware_version_invalid"),
    ] {
        let res = publish(&app, &alice, name, version, blob(10, 4)).await;
        assert_eq!(res.status(), 422, "{name} {version}");
        assert_eq!(
            res.json::<Value>().await.expect("json")["error"]["code"],
            code
        );
    }
    let no_file = app
        .as_person(Method::POST, "/api/firmware", &alice)
        .multipart(Form::new().text("name", "fw").text("version", "3.0.0"))
        .send()
        .await
        .expect("request");
    assert_eq!(no_file.status(), 400);
    assert_eq!(
        no_file.json::<Value>().await.expect("json")["error"]["code"],
        "firmware_form_invalid"
    );
    let not_multipart = app
        .as_person(Method::POST, "/api/firmware", &alice)
        .json(&json!({"name": "fw"}))
        .send()
        .await
        .expect("request");
    assert_eq!(not_multipart.status(), 415);

    assert_eq!(
        stored_files(&app),
        files,
        "no file of a refused upload stays"
    );
    assert_eq!(
        count_rows(&app).await,
        1,
        "no row of a refused upload stays"
    );
}

async fn who_may_publish_and_delete(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.signed_in(OWNER).await;
    let bob = app.signed_in("bob@example.test").await;
    let anonymous = app
        .client
        .post(app.url("/api/firmware"))
        .multipart(form("anon", "1", blob(10, 1)))
        .send()
        .await
        .expect("request");
    assert_eq!(anonymous.status(), 401);
    let logger = app.logger(&alice, OWNER, "logger-1").await;
    let ingest_key = app.device_key(&alice, logger, &["ingest"]).await;
    let firmware_key = app.device_key(&alice, logger, &["firmware"]).await;
    let by_key = |key: String, version: &'static str| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/api/firmware"))
                .header("x-api-key", key)
                .multipart(form("ci_build", version, blob(64, 9)))
                .send()
                .await
                .expect("request")
                .status()
        }
    };
    assert_eq!(by_key(ingest_key.clone(), "1").await, 403);
    assert_eq!(by_key(firmware_key, "1").await, 201);
    // Any device key reads and downloads.
    let read = app
        .client
        .get(app.url("/api/firmware/ci_build/1/download"))
        .header("x-api-key", &ingest_key)
        .send()
        .await
        .expect("request");
    assert_eq!(read.status(), 200);
    assert_eq!(app.get("/api/firmware/ci_build/1").await.status(), 401);

    // The same bytes under two versions share one file; it goes with the last of them.
    assert_eq!(
        publish(&app, &alice, "shared", "1", blob(50, 5))
            .await
            .status(),
        201
    );
    assert_eq!(
        publish(&app, &alice, "shared", "2", blob(50, 5))
            .await
            .status(),
        201
    );
    let delete = |session: Session, version: &'static str| {
        let app = &app;
        async move {
            app.as_person(
                Method::DELETE,
                &format!("/api/firmware/shared/{version}"),
                &session,
            )
            .send()
            .await
            .expect("request")
            .status()
        }
    };
    assert_eq!(delete(bob.clone(), "1").await, 404, "not bob's to delete");
    let sha = hex::encode(sha2::Sha256::digest(blob(50, 5)));
    let file = app.config().data_dir.join("firmware").join(&sha);
    assert_eq!(delete(alice.clone(), "1").await, 204);
    assert!(file.exists(), "version 2 still uses the bytes");
    assert_eq!(delete(alice.clone(), "2").await, 204);
    assert!(!file.exists());
    assert_eq!(delete(alice, "2").await, 404);
}

async fn loggers_learn_what_to_install(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.signed_in(OWNER).await;
    let logger = app.logger(&alice, OWNER, "logger-1").await;
    let key = app.device_key(&alice, logger, &["ingest"]).await;
    let path = format!("/api/logger/{logger}/firmware");
    let ask = || {
        app.client
            .get(app.url(&path))
            .header("x-api-key", &key)
            .send()
    };
    let none: Value = ask().await.expect("request").json().await.expect("json");
    assert_eq!(none, json!({"logger_id": logger, "firmware": null}));
    let image = blob(300, 7);
    assert_eq!(
        publish(&app, &alice, "soil_fw", "2.0.0", image.clone())
            .await
            .status(),
        201
    );
    let set = app
        .as_person(Method::PUT, &path, &alice)
        .json(&json!({"name": "soil_fw", "version": "2.0.0"}))
        .send()
        .await
        .expect("request");
    assert_eq!(set.status(), 200);
    let unknown = app
        .as_person(Method::PUT, &path, &alice)
        .json(&json!({"name": "soil_fw", "version": "9"}))
        .send()
        .await
        .expect("request");
    assert_eq!(unknown.status(), 404);
    let answer: Value = ask().await.expect("request").json().await.expect("json");
    assert_eq!(answer["firmware"]["version"], "2.0.0");
    assert_eq!(
        answer["firmware"]["sha256"],
        hex::encode(sha2::Sha256::digest(&image))
    );
    let download = answer["firmware"]["download_path"].as_str().expect("path");
    let bytes = app
        .client
        .get(app.url(download))
        .header("x-api-key", &key)
        .send()
        .await
        .expect("request")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(bytes.to_vec(), image);
    // Another person's logger is 404, to set and to read.
    let bob = app.signed_in("bob@example.test").await;
    let theirs = app
        .as_person(Method::PUT, &path, &bob)
        .json(&json!({"name": "soil_fw", "version": "2.0.0"}))
        .send()
        .await
        .expect("request");
    assert_eq!(theirs.status(), 404);
    let read = app
        .as_person(Method::GET, &path, &bob)
        .send()
        .await
        .expect("request");
    assert_eq!(read.status(), 404);
}

/// Two versions with the same bytes share one file. Deleting the only version while another
/// publish of the same bytes is in flight must never leave the new version without its file,
/// whichever commits first: both changes take the digest's lock.
async fn shared_bytes_survive_a_delete_racing_a_publish(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let s = app.signed_in(OWNER).await;
    let bytes = blob(200_000, 7);
    let sha = hex::encode(sha2::Sha256::digest(&bytes));
    for round in 0..12 {
        let (old, new) = (format!("{round}.0.0"), format!("{round}.0.1"));
        assert_eq!(
            publish(&app, &s, "racer", &old, bytes.clone())
                .await
                .status(),
            201
        );
        let delete = app
            .as_person(Method::DELETE, &format!("/api/firmware/racer/{old}"), &s)
            .send();
        let (deleted, published) =
            tokio::join!(delete, publish(&app, &s, "racer", &new, bytes.clone()));
        assert_eq!(deleted.expect("delete").status(), 204);
        assert_eq!(published.status(), 201, "round {round}");
        let download = app
            .as_person(
                Method::GET,
                &format!("/api/firmware/racer/{new}/download"),
                &s,
            )
            .send()
            .await
            .expect("download");
        assert_eq!(
            download.status(),
            200,
            "round {round}: the new version lost its file"
        );
        let got = download.bytes().await.expect("bytes");
        assert_eq!(
            hex::encode(sha2::Sha256::digest(&got)),
            sha,
            "round {round}"
        );
        let gone = app
            .as_person(Method::DELETE, &format!("/api/firmware/racer/{new}"), &s)
            .send()
            .await
            .expect("delete");
        assert_eq!(gone.status(), 204);
        assert!(
            stored_files(&app).is_empty(),
            "round {round}: bytes left after the last version"
        );
    }
}
