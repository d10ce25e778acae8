//! Every route, grouped by resource; this list is the whole HTTP surface.

pub(crate) mod admin;
pub(crate) mod alerts;
pub(crate) mod auth;
pub(crate) mod cells;
pub(crate) mod chirpstack;
pub(crate) mod devices;
pub(crate) mod docs;
pub(crate) mod firmware;
pub(crate) mod fleet;
pub(crate) mod health;
pub(crate) mod insights;
pub(crate) mod jobs;
pub(crate) mod legacy;
pub(crate) mod loggers;
pub(crate) mod members;
pub(crate) mod opendata;
pub(crate) mod sensor;
pub(crate) mod series;
pub(crate) mod tags;
pub(crate) mod ttn;
pub(crate) mod users;

use axum::extract::DefaultBodyLimit;
use utoipa::OpenApi;
use utoipa_axum::router::UtoipaMethodRouterExt;
use utoipa_axum::routes;

use crate::openapi::BaseDoc;
use crate::routing::ApiRouter;

/// All routes with their access class. One `routes!` call groups the methods of one path only
/// (handlers of different paths in one call would share a method router and clash).
pub(crate) fn api_routes(ents_compat: bool) -> ApiRouter {
    ApiRouter::new(BaseDoc::openapi(), ents_compat)
        .public(routes!(health::ents_health))
        .public(routes!(health::healthz))
        .public(routes!(health::readyz))
        .public(routes!(health::metrics))
        .public(routes!(cells::list_cell_ids, cells::post_cell_ids_noop))
        .person_or_key(routes!(cells::list_cells))
        .dashboard_write(routes!(cells::create_cell))
        .public(routes!(cells::get_cell))
        .person_or_key(routes!(cells::update_cell, cells::delete_cell))
        .public(routes!(cells::list_cell_sensors))
        .person_or_key(routes!(loggers::list_loggers, loggers::create_logger))
        .person_or_key(routes!(
            loggers::get_logger,
            loggers::update_logger,
            loggers::delete_logger
        ))
        .person(routes!(
            loggers::create_device_key,
            loggers::list_device_keys
        ))
        .person(routes!(loggers::revoke_device_key))
        .public(routes!(tags::list_tags))
        .person_or_key(routes!(tags::create_tag))
        .public(routes!(tags::get_tag))
        .person_or_key(routes!(tags::update_tag, tags::delete_tag))
        .public(routes!(tags::list_cell_tags))
        .dashboard_write(routes!(tags::assign_cell_tags))
        .dashboard_write(routes!(tags::add_cell_tag, tags::remove_cell_tag))
        .public(routes!(tags::list_tag_cells))
        .person_or_key(routes!(members::list_members, members::replace_members))
        .person_or_key(routes!(members::share_cell))
        .person_or_key(routes!(members::add_member, members::remove_member))
        .person_or_key(routes!(members::user_cells))
        .device(routes!(sensor::upload_sensor))
        .device(routes!(sensor::upload_sensor_json))
        .device(routes!(legacy::insert_power))
        .device(routes!(legacy::insert_teros))
        .integration(routes!(chirpstack::chirpstack_event))
        .public(routes!(sensor::read_sensor))
        .public(routes!(sensor::read_sensor_json))
        .public(routes!(insights::data_availability))
        .public(routes!(insights::sensor_catalog))
        .public(routes!(insights::validate_equation))
        .person_or_key(routes!(jobs::start_cell_export))
        .person_or_key(routes!(jobs::task_status))
        .person_or_key(routes!(jobs::list_jobs))
        .person_or_key(routes!(jobs::get_job, jobs::cancel_job))
        .person_or_key(routes!(jobs::download_artifact))
        .person(routes!(jobs::start_export))
        .person(routes!(jobs::start_import))
        .person(routes!(ttn::ttn_status, ttn::ttn_register, ttn::ttn_remove))
        .public(routes!(opendata::get_opendata))
        .person(routes!(opendata::approve_opendata))
        .public(routes!(devices::receipt_key))
        .signed(routes!(devices::enrol))
        .person(routes!(devices::set_quota))
        .signed(routes!(devices::get_receipt))
        // The upload streams to disk and enforces LOAM_FIRMWARE_MAX_BYTES itself.
        .publisher(routes!(firmware::upload_firmware).layer(DefaultBodyLimit::disable()))
        .signed(routes!(firmware::search_firmware))
        .signed(routes!(firmware::list_versions))
        .signed(routes!(firmware::get_firmware))
        .person_or_key(routes!(firmware::delete_firmware))
        .signed(routes!(firmware::download_firmware))
        .person_or_key(routes!(firmware::set_logger_firmware))
        .signed(routes!(firmware::get_logger_firmware))
        .signed(routes!(fleet::logger_health))
        .person_or_key(routes!(fleet::fleet_health))
        .person_or_key(routes!(alerts::create_rule, alerts::list_rules))
        .person_or_key(routes!(
            alerts::get_rule,
            alerts::update_rule,
            alerts::delete_rule
        ))
        .person_or_key(routes!(alerts::rule_events))
        .person_or_key(routes!(alerts::rule_deliveries))
        .public(routes!(series::read_power))
        .public(routes!(series::read_power_no_cell))
        .public(routes!(series::read_teros))
        .public(routes!(series::read_teros_no_cell))
        .public(routes!(docs::home_page))
        .public(routes!(docs::openapi_json))
        .public(routes!(docs::docs_page))
        .public(routes!(docs::docs_script))
        .public(routes!(auth::register))
        .public(routes!(auth::login))
        .public(routes!(auth::refresh))
        .public(routes!(auth::logout))
        .public(routes!(auth::oauth_url))
        .public(routes!(auth::session))
        .public(routes!(auth::oauth_token))
        .person_or_key(routes!(users::get_user, users::update_user))
        .person(routes!(
            users::get_user_key,
            users::create_user_key,
            users::delete_user_key
        ))
        .person(routes!(admin::list_users))
        .person(routes!(admin::grant_admin, admin::revoke_admin))
        .person(routes!(admin::disable_user, admin::enable_user))
        .person(routes!(admin::set_password))
        .person(routes!(admin::audit_log))
}
