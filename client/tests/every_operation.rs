//! Every method of the client against the real server, in the order a person's first weeks on
//! Loam would call them: each answer decodes into its schema type and says what it should. The
//! operations whose setup is another system's (TTN, an OIDC provider) are called unconfigured and
//! must answer their documented refusal, which proves the route and the decoding of the error.

use std::time::Duration;

use base64::Engine;

use loam_client::{
    AuditQuery, CatalogQuery, CellDatasQuery, CellFilter, CellIds, Client, ClientError,
    Credentials, Equation, FirmwareSearch, FleetFilter, Limit, LoggerFilter, Month, OpenData,
    SensorQuery, SeriesQuery, ShareWith, TagFields, TagFilter, TagIds, UserIds, UserSearch,
};
use loam_schemas::admin::SetPasswordRequest;
use loam_schemas::alerts::{AlertCondition, CreateAlertRule, UpdateAlertRule};
use loam_schemas::auth::{ProfileUpdate, RegisterRequest};
use loam_schemas::cells::{CreateCellRequest, UpdateCellRequest};
use loam_schemas::devices::{DesiredFirmwareRequest, EnrolRequest, QuotaRequest};
use loam_schemas::jobs::{ExportRequest, ExportResample, JobResponse, TtnRegistration};
use loam_schemas::loggers::{CreateDeviceKeyRequest, CreateLoggerRequest, UpdateLoggerRequest};
use loam_schemas::series::{LegacyPowerInsert, LegacyTerosInsert};
use loam_tests::{Backend, PASSWORD, TestApp, backend_tests, frames, http_date};

backend_tests!(the_client_calls_every_operation);

const OWNER: &str = "owner@example.test";
const FRIEND: &str = "friend@example.test";
const T0: u32 = 1_767_225_600; // 2026-01-01T00:00:00Z

fn refused(result: Result<impl std::fmt::Debug, ClientError>, status: u16) -> ClientError {
    let err = result.expect_err("the server should refuse");
    assert_eq!(err.status(), Some(status), "{err}");
    assert!(err.request_id().is_some_and(|id| !id.is_empty()));
    err
}

async fn finished(client: &Client, job: &JobResponse) -> JobResponse {
    for _ in 0..600 {
        let now = client.job(&job.id).await.expect("job");
        if matches!(now.state.as_str(), "succeeded" | "failed" | "cancelled") {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("job {} did not finish", job.id);
}

fn register(email: &str) -> RegisterRequest {
    RegisterRequest {
        email: email.into(),
        password: PASSWORD.into(),
        first_name: Some("Test".into()),
        last_name: Some("Person".into()),
    }
}

async fn the_client_calls_every_operation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let anon = Client::new(&app.url("")).expect("client");

    // The service.
    assert!(
        anon.ents_health()
            .await
            .expect("ents health")
            .hello
            .contains("healthy")
    );
    assert_eq!(anon.healthz().await.expect("healthz").status, "ok");
    assert_eq!(anon.readyz().await.expect("readyz").status, "ok");
    assert!(
        anon.metrics()
            .await
            .expect("metrics")
            .contains("loam_build_info")
    );
    let spec = anon.openapi().await.expect("spec");
    assert!(spec["paths"].as_object().is_some_and(|p| p.len() > 50));
    assert!(anon.home_page().await.expect("home").contains("/api/docs"));
    assert!(
        anon.docs_page()
            .await
            .expect("docs")
            .contains("/api/openapi.json")
    );
    assert!(anon.docs_script().await.expect("script").len() > 100_000);

    // Accounts.
    let account = anon.register(&register(OWNER)).await.expect("register");
    assert_eq!(account.email, OWNER);
    let friend = anon
        .register(&register(FRIEND))
        .await
        .expect("register friend");
    let (me, login) = anon.login(OWNER, PASSWORD).await.expect("login");
    assert_eq!(me.me().await.expect("me").email, OWNER);
    let renamed = me
        .update_me(&ProfileUpdate {
            first_name: Some("Ada".into()),
            last_name: None,
        })
        .await
        .expect("update me");
    assert_eq!(renamed.first_name.as_deref(), Some("Ada"));
    let refreshed = anon
        .refresh(login.refresh_token.as_deref().expect("refresh token"))
        .await
        .expect("refresh");
    assert!(!refreshed.access_token.is_empty());
    let spent = anon
        .refresh(login.refresh_token.as_deref().expect("token"))
        .await;
    refused(spent, 401);
    assert!(me.user_key().await.expect("no key yet").api_key.is_none());
    let user_key = me.create_user_key().await.expect("user key");
    assert!(user_key.api_key.is_some());
    refused(me.create_user_key().await, 409);
    me.delete_user_key().await.expect("delete user key");
    refused(anon.session().await, 401);
    refused(anon.oauth_url().await, 503);
    refused(anon.oauth_token("code", "state").await, 503);
    anon.logout(refreshed.refresh_token.as_deref())
        .await
        .expect("logout");
    anon.logout_ents(None).await.expect("logout (ENTS)");
    let admin_session = app.admin("admin@example.test").await;
    let admin = anon
        .clone()
        .with_credentials(Credentials::Bearer(admin_session.access_token));

    // Cells, tags and members.
    let cell = me
        .create_cell(&CreateCellRequest {
            name: "field-1".into(),
            location: "north plot".into(),
            latitude: 1.5,
            longitude: 2.5,
            archive: false,
            user_email: OWNER.into(),
            tag_ids: None,
            public: Some(false),
        })
        .await
        .expect("create cell");
    let cell_id = cell.id;
    let mine = me.list_cells(&CellFilter::default()).await.expect("cells");
    assert_eq!(mine.iter().map(|c| c.id).collect::<Vec<_>>(), [cell_id]);
    assert!(
        me.list_cell_ids()
            .await
            .expect("cell ids")
            .iter()
            .any(|c| c.id == cell_id)
    );
    me.post_cell_ids().await.expect("ENTS no-op");
    me.update_cell(
        cell_id,
        &UpdateCellRequest {
            location: Some("south plot".into()),
            ..Default::default()
        },
    )
    .await
    .expect("update cell");
    assert_eq!(
        me.cell(cell_id).await.expect("cell").location.as_deref(),
        Some("south plot")
    );

    let tag = me
        .create_tag(&TagFields {
            name: Some("orchard".into()),
            description: None,
        })
        .await
        .expect("create tag")
        .tag;
    let found = me
        .list_tags(&TagFilter {
            search: Some("orch".into()),
        })
        .await
        .expect("tags");
    assert_eq!(found.iter().map(|t| t.id).collect::<Vec<_>>(), [tag.id]);
    me.update_tag(
        tag.id,
        &TagFields {
            name: None,
            description: Some("apple trees".into()),
        },
    )
    .await
    .expect("update tag");
    assert_eq!(
        me.tag(tag.id).await.expect("tag").description.as_deref(),
        Some("apple trees")
    );
    let assigned = me
        .assign_cell_tags(
            cell_id,
            &TagIds {
                tag_ids: vec![tag.id],
            },
        )
        .await
        .expect("assign tags");
    assert_eq!(assigned.tags.len(), 1);
    me.remove_cell_tag(cell_id, tag.id).await.expect("untag");
    assert!(me.cell_tags(cell_id).await.expect("cell tags").is_empty());
    me.add_cell_tag(cell_id, tag.id).await.expect("tag");
    let tagged = me.tag_cells(tag.id).await.expect("tag cells");
    assert_eq!(
        tagged.cells.iter().map(|c| c.id).collect::<Vec<_>>(),
        [cell_id]
    );

    let shared = me
        .share_cell(
            cell_id,
            &ShareWith {
                email: FRIEND.into(),
            },
        )
        .await
        .expect("share");
    assert_eq!(shared.user.id, friend.id);
    me.remove_cell_member(cell_id, &friend.id)
        .await
        .expect("remove member");
    me.add_cell_member(cell_id, &friend.id)
        .await
        .expect("add member");
    let members = me
        .replace_cell_members(
            cell_id,
            &UserIds {
                user_ids: vec![account.id.clone(), friend.id.clone()],
            },
        )
        .await
        .expect("replace members");
    assert_eq!(members.users.len(), 2);
    assert_eq!(me.cell_members(cell_id).await.expect("members").len(), 2);
    let friends_cells = admin.user_cells(&friend.id).await.expect("user cells");
    assert_eq!(
        friends_cells.cells.iter().map(|c| c.id).collect::<Vec<_>>(),
        [cell_id]
    );

    // Loggers and keys.
    let logger_id = me
        .create_logger(&CreateLoggerRequest {
            name: Some("logger-1".into()),
            user_email: Some(OWNER.into()),
            kind: Some("other".into()),
            device_eui: None,
            description: None,
            dev_eui: None,
            join_eui: None,
            app_key: None,
        })
        .await
        .expect("create logger")
        .logger_id;
    assert_eq!(
        me.list_loggers(&LoggerFilter::default())
            .await
            .expect("loggers")
            .len(),
        1
    );
    me.update_logger(
        logger_id,
        &UpdateLoggerRequest {
            name: None,
            description: Some("by the gate".into()),
        },
    )
    .await
    .expect("update logger");
    assert_eq!(
        me.logger(logger_id)
            .await
            .expect("logger")
            .description
            .as_deref(),
        Some("by the gate")
    );
    let key = me
        .create_device_key(
            logger_id,
            &CreateDeviceKeyRequest {
                name: "field unit".into(),
                scopes: vec!["ingest".into(), "read".into(), "firmware".into()],
                expires_at: None,
            },
        )
        .await
        .expect("device key");
    assert_eq!(me.list_device_keys(logger_id).await.expect("keys").len(), 1);
    let device = anon
        .clone()
        .with_credentials(Credentials::ApiKey(key.key.clone()));
    refused(me.ttn_device(logger_id).await, 503);
    let ttn = TtnRegistration {
        dev_eui: "0011223344556677".into(),
        join_eui: "8899AABBCCDDEEFF".into(),
        app_key: "00112233445566778899AABBCCDDEEFF".into(),
    };
    refused(me.register_on_ttn(logger_id, &ttn).await, 503);
    refused(me.remove_from_ttn(logger_id).await, 503);

    // Enrolment, receipted uploads, and the reads.
    let device_key = loam_receipts::ServerKey::from_seed([7; 32]).public_key_hex();
    let enrolled = device
        .enrol(
            logger_id,
            &EnrolRequest {
                public_key: Some(device_key),
            },
        )
        .await
        .expect("enrol");
    assert_eq!(enrolled.available_slots, 100);
    let quota = admin
        .set_quota(
            logger_id,
            &QuotaRequest {
                available_slots: Some(500),
                quota_expiry: None,
            },
        )
        .await
        .expect("quota");
    assert_eq!(quota.available_slots, 500);
    let server_key: [u8; 32] = hex::decode(anon.receipt_key().await.expect("key").public_key)
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    let locator = "00112233445566778899aabbccddeeff";
    let body = frames::power(T0 + 60, cell_id.into(), logger_id.into(), 1.25, 0.002);
    let uploaded = device
        .upload(body.clone(), Some(locator))
        .await
        .expect("upload");
    let receipt = loam_receipts::verify_receipt(
        &server_key,
        uploaded.receipt.as_deref().expect("receipt header"),
    )
    .expect("valid receipt");
    assert_eq!(receipt.rows, 1);
    assert_eq!(
        device
            .receipt(logger_id, locator)
            .await
            .expect("stored receipt")
            .receipt,
        uploaded.receipt.clone().expect("receipt")
    );
    let teros = serde_json::json!({"type": "teros12", "cellId": cell_id, "loggerId": logger_id,
        "ts": T0 + 120, "data": {"vwcRaw": 2000.0, "vwcAdj": 0.3, "temp": 21.5, "ec": 140}});
    device.upload_json(&teros, None).await.expect("json upload");
    // Device health: the uploads so far are in the logger's health and the fleet's.
    let health = device.logger_health(logger_id).await.expect("own health");
    assert_eq!(health.logger_id, logger_id);
    assert_eq!(health.uploads_24h, 2);
    let fleet = me
        .fleet_health(&FleetFilter {
            cell_id: Some(cell_id),
            state: Some("ok".into()),
        })
        .await
        .expect("fleet health");
    assert_eq!(fleet.counts.ok, 1);
    assert_eq!(fleet.loggers.first().map(|l| l.logger_id), Some(logger_id));
    // Alert rules: made, read, changed, their (empty) history, deleted.
    let rule = me
        .create_alert(&CreateAlertRule {
            name: "quiet".into(),
            logger_id: Some(logger_id),
            cell_id: None,
            condition: AlertCondition::Silence {
                minutes: Some(60),
                factor: None,
            },
            repeat_minutes: None,
            notify_recovery: None,
            webhook_url: None,
            enabled: None,
        })
        .await
        .expect("alert rule");
    assert_eq!((rule.state.as_str(), rule.secret.len()), ("ok", 64));
    assert_eq!(me.list_alerts().await.expect("rules").len(), 1);
    assert_eq!(me.alert(rule.id).await.expect("rule").name, "quiet");
    let renamed = me
        .update_alert(
            rule.id,
            &UpdateAlertRule {
                name: Some("very quiet".into()),
                ..UpdateAlertRule::default()
            },
        )
        .await
        .expect("update rule");
    assert_eq!(renamed.name, "very quiet");
    let page = Limit { limit: Some(10) };
    assert!(
        me.alert_events(rule.id, &page)
            .await
            .expect("events")
            .is_empty()
    );
    assert!(
        me.alert_deliveries(rule.id, &page)
            .await
            .expect("deliveries")
            .is_empty()
    );
    me.delete_alert(rule.id).await.expect("delete rule");
    refused(me.alert(rule.id).await, 404);
    let frame = frames::power(T0 + 150, cell_id.into(), logger_id.into(), 0.5, 0.001);
    let event = serde_json::json!({"deviceInfo": {"devEui": "0101010101010101"}, "fPort": 1,
        "data": base64::engine::general_purpose::STANDARD.encode(frame)});
    let stored = device
        .chirpstack_event("up", &event)
        .await
        .expect("chirpstack event");
    assert_eq!(stored.status, "stored");
    let legacy_power = device
        .insert_power(&LegacyPowerInsert {
            logger: "logger-1".into(),
            cell: "field-1".into(),
            ts: f64::from(T0 + 180),
            v: 0.5,
            i: 0.001,
            kind: None,
        })
        .await
        .expect("legacy power");
    assert_eq!(legacy_power.voltage, Some(0.5));
    let legacy_teros = device
        .insert_teros(&LegacyTerosInsert {
            cell: "field-1".into(),
            ts: f64::from(T0 + 240),
            vwc: 0.25,
            raw_vwc: 2100.0,
            temp: 20.0,
            ec: 150.0,
            water_pot: None,
            kind: None,
        })
        .await
        .expect("legacy teros");
    assert_eq!(legacy_teros.temp, Some(20.0));
    let range = SeriesQuery {
        start_time: Some(http_date(i64::from(T0))),
        end_time: Some(http_date(i64::from(T0) + 3600)),
        resample: Some("none".into()),
        stream: None,
    };
    let power = me.power(cell_id, &range).await.expect("power");
    assert_eq!(
        power.v.len(),
        3,
        "protobuf, ChirpStack and legacy power rows"
    );
    assert!(
        anon.power_without_cell()
            .await
            .expect("no cell")
            .v
            .is_empty()
    );
    let teros_series = me.teros(cell_id, &range).await.expect("teros");
    assert_eq!(teros_series.temp.len(), 2, "JSON and legacy TEROS rows");
    assert!(
        anon.teros_without_cell()
            .await
            .expect("no cell")
            .temp
            .is_empty()
    );
    let generic = frames::generic(
        T0 + 300,
        logger_id.into(),
        &[(frames::pb::SensorType::Bme280Temp, cell_id.into(), 21.5)],
    );
    device
        .upload_sensors(generic, None)
        .await
        .expect("generic upload");
    let sensors = me.cell_sensors(cell_id).await.expect("sensors");
    let bme = sensors.first().expect("a generic sensor");
    let series = SensorQuery {
        name: bme.name.clone(),
        measurement: bme.measurement.clone(),
        cell_id,
        start_time: Some(http_date(i64::from(T0))),
        end_time: Some(http_date(i64::from(T0) + 3600)),
        resample: Some("none".into()),
    };
    assert_eq!(
        me.sensor_series(&series).await.expect("series").data.len(),
        1
    );
    assert_eq!(
        me.sensor_series_json(&series)
            .await
            .expect("json series")
            .data
            .len(),
        1
    );
    let span = me
        .data_availability(&CellIds {
            cell_ids: cell_id.to_string(),
        })
        .await
        .expect("availability");
    assert!(span.latest_timestamp.is_some());
    let catalog = me
        .sensor_catalog(&CatalogQuery { cell_id })
        .await
        .expect("catalog");
    assert!(!catalog.entries.is_empty());
    let equation = me
        .validate_equation(&Equation {
            expression: "2 * 3".into(),
            cell_ids: None,
        })
        .await
        .expect("equation");
    assert!(equation.ok);

    // Firmware.
    let image: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
    let published = device
        .upload_firmware("soil-node", "1.0.0", Some("first"), image.clone())
        .await
        .expect("publish");
    let page = me
        .search_firmware(&FirmwareSearch {
            search: Some("soil".into()),
            limit: 10,
            offset: 0,
        })
        .await
        .expect("search");
    assert_eq!(page.items.len(), 1);
    assert_eq!(
        me.firmware_versions("soil-node")
            .await
            .expect("versions")
            .versions
            .len(),
        1
    );
    assert_eq!(
        me.firmware("soil-node", "1.0.0")
            .await
            .expect("meta")
            .sha256,
        published.sha256
    );
    let whole = device
        .download_firmware("soil-node", "1.0.0", 0, None)
        .await
        .expect("download");
    assert_eq!(whole.bytes, image);
    let current = device
        .download_firmware("soil-node", "1.0.0", 0, whole.etag.as_deref())
        .await
        .expect("conditional download");
    assert!(current.not_modified && current.bytes.is_empty());
    let rest = device
        .download_firmware("soil-node", "1.0.0", 30_000, whole.etag.as_deref())
        .await
        .expect("resume");
    assert!(rest.partial && rest.bytes == image[30_000..]);
    me.set_logger_firmware(
        logger_id,
        &DesiredFirmwareRequest {
            name: "soil-node".into(),
            version: "1.0.0".into(),
        },
    )
    .await
    .expect("desired firmware");
    assert_eq!(
        device
            .logger_firmware(logger_id)
            .await
            .expect("what to install")
            .firmware
            .map(|f| f.sha256),
        Some(published.sha256.clone())
    );

    // Jobs: the export, ENTS's polled export, an import, open data.
    let export = me
        .start_export(&ExportRequest {
            cell_ids: vec![u32::try_from(cell_id).expect("id")],
            start: chrono::DateTime::from_timestamp(i64::from(T0), 0).expect("start"),
            end: chrono::DateTime::from_timestamp(i64::from(T0) + 3600, 0).expect("end"),
            resample: ExportResample::None,
            series: Vec::new(),
        })
        .await
        .expect("export");
    let done = finished(&me, &export).await;
    assert_eq!(done.state, "succeeded", "{:?}", done.error);
    assert!(
        me.list_jobs()
            .await
            .expect("jobs")
            .iter()
            .any(|j| j.id == export.id)
    );
    let zip = me.job_artifact(&export.id).await.expect("artifact");
    assert!(zip.starts_with(b"PK"));
    refused(me.cancel_job(&export.id).await, 409);
    let ents_export = me
        .start_cell_datas(&CellDatasQuery {
            cell_ids: cell_id.to_string(),
            resample: Some("none".into()),
            start_time: Some(http_date(i64::from(T0))),
            end_time: Some(http_date(i64::from(T0) + 3600)),
        })
        .await
        .expect("cell datas");
    let mut status = me
        .task_status(&ents_export.result_id)
        .await
        .expect("status");
    for _ in 0..600 {
        if status.state != "PENDING" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        status = me
            .task_status(&ents_export.result_id)
            .await
            .expect("status");
    }
    assert_eq!(status.state, "SUCCESS", "{}", status.status);
    let csv = "timestamp,Voltage (mV),Current (uA),Power (uW),EC (uS/cm),VWC (%),Temperature (C)\n\
               \x2001 Jan 2026 00:15:00 GMT,750.0,3.0,2.25,140.0,30.5,21.0\n";
    let import = me
        .import_csv(cell_id, logger_id, "history.csv", csv.as_bytes().to_vec())
        .await
        .expect("import");
    let imported = finished(&me, &import).await;
    assert_eq!(imported.state, "succeeded", "{:?}", imported.error);
    let january = Month {
        year: 2026,
        month: 1,
    };
    let mut archive = anon.open_data(january, false).await.expect("open data");
    for _ in 0..600 {
        if let OpenData::Ready(_) = archive {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        archive = anon.open_data(january, false).await.expect("open data");
    }
    assert!(matches!(&archive, OpenData::Ready(zip) if zip.starts_with(b"PK")));
    let approved = admin.approve_open_data(&january).await.expect("approve");
    assert!(approved.message.contains("approved"));

    // Administering people.
    let found = admin
        .admin_users(&UserSearch {
            q: Some("FRIEND@".into()),
            ..UserSearch::default()
        })
        .await
        .expect("users");
    assert_eq!(found.total, 1);
    assert_eq!(found.users[0].email, FRIEND);
    refused(me.admin_users(&UserSearch::default()).await, 403);
    assert!(admin.grant_admin(&friend.id).await.expect("grant").is_admin);
    assert!(
        !admin
            .revoke_admin(&friend.id)
            .await
            .expect("revoke")
            .is_admin
    );
    let disabled = admin.disable_user(&friend.id).await.expect("disable");
    assert!(disabled.disabled_at.is_some());
    refused(anon.login(FRIEND, PASSWORD).await, 403);
    let enabled = admin.enable_user(&friend.id).await.expect("enable");
    assert!(enabled.disabled_at.is_none());
    admin
        .set_user_password(
            &friend.id,
            &SetPasswordRequest {
                password: "another-long-password".into(),
            },
        )
        .await
        .expect("set password");
    anon.login(FRIEND, "another-long-password")
        .await
        .expect("the new password works");
    let trail = admin
        .audit_log(&AuditQuery::default())
        .await
        .expect("audit");
    let actions: Vec<&str> = trail.entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "set_password",
            "enable",
            "disable",
            "revoke_admin",
            "grant_admin"
        ]
    );

    // Taking it all down again.
    me.delete_firmware("soil-node", "1.0.0")
        .await
        .expect("delete firmware");
    me.revoke_device_key(logger_id, &key.id)
        .await
        .expect("revoke");
    refused(device.logger_firmware(logger_id).await, 401);
    me.delete_tag(tag.id).await.expect("delete tag");
    me.delete_logger(logger_id).await.expect("delete logger");
    me.delete_cell(cell_id).await.expect("delete cell");
    refused(me.cell(cell_id).await, 404);
}
