//! The one portable diesel schema; the SQL lives in `migrations/{postgres,sqlite}`, kept in step.
#![allow(missing_docs)]

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        first_name -> Nullable<Text>,
        last_name -> Nullable<Text>,
        password_hash -> Nullable<Text>,
        is_admin -> Bool,
        created_at -> Timestamp,
        disabled_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Text,
        user_id -> Text,
        family_id -> Text,
        token_hash -> Text,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    cells (id) {
        id -> Integer,
        name -> Text,
        location -> Nullable<Text>,
        latitude -> Nullable<Double>,
        longitude -> Nullable<Double>,
        user_id -> Nullable<Text>,
        archive -> Bool,
        public -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    loggers (id) {
        id -> Integer,
        name -> Text,
        uuid -> Text,
        #[sql_name = "type"]
        kind -> Nullable<Text>,
        device_eui -> Nullable<Text>,
        description -> Nullable<Text>,
        date_created -> Timestamp,
        user_id -> Nullable<Text>,
    }
}

diesel::table! {
    power_data (id) {
        id -> BigInt,
        logger_id -> Nullable<Integer>,
        cell_id -> Integer,
        ts -> Timestamp,
        current -> Nullable<Double>,
        voltage -> Nullable<Double>,
        ts_server -> Timestamp,
    }
}

diesel::table! {
    teros_data (id) {
        id -> BigInt,
        cell_id -> Integer,
        ts -> Timestamp,
        vwc -> Nullable<Double>,
        temp -> Nullable<Double>,
        ec -> Nullable<Integer>,
        ts_server -> Timestamp,
        raw_vwc -> Nullable<Double>,
        water_pot -> Nullable<Double>,
    }
}

diesel::table! {
    sensors (id) {
        id -> Integer,
        cell_id -> Integer,
        measurement -> Text,
        data_type -> Text,
        unit -> Nullable<Text>,
        name -> Text,
    }
}

diesel::table! {
    data (id) {
        id -> BigInt,
        sensor_id -> Integer,
        ts -> Timestamp,
        ts_server -> Timestamp,
        float_val -> Nullable<Double>,
        int_val -> Nullable<BigInt>,
        text_val -> Nullable<Text>,
    }
}

diesel::table! {
    tags (id) {
        id -> Integer,
        name -> Text,
        description -> Nullable<Text>,
        created_at -> Timestamp,
        created_by -> Nullable<Text>,
    }
}

diesel::table! {
    cell_tag (cell_id, tag_id) {
        cell_id -> Integer,
        tag_id -> Integer,
    }
}

diesel::table! {
    cell_user (cell_id, user_id) {
        cell_id -> Integer,
        user_id -> Text,
    }
}

diesel::joinable!(refresh_tokens -> users (user_id));
diesel::joinable!(cells -> users (user_id));
diesel::joinable!(loggers -> users (user_id));
diesel::joinable!(power_data -> cells (cell_id));
diesel::joinable!(power_data -> loggers (logger_id));
diesel::joinable!(teros_data -> cells (cell_id));
diesel::joinable!(sensors -> cells (cell_id));
diesel::joinable!(data -> sensors (sensor_id));
diesel::joinable!(job_artifacts -> jobs (job_id));
diesel::joinable!(tags -> users (created_by));
diesel::joinable!(cell_tag -> cells (cell_id));
diesel::joinable!(cell_tag -> tags (tag_id));
diesel::joinable!(cell_user -> cells (cell_id));
diesel::joinable!(cell_user -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    job_artifacts,
    users,
    refresh_tokens,
    cells,
    loggers,
    power_data,
    teros_data,
    sensors,
    data,
    tags,
    cell_tag,
    cell_user,
    api_keys,
    jobs,
);

diesel::table! {
    api_keys (id) {
        id -> Text,
        user_id -> Text,
        logger_id -> Nullable<Integer>,
        name -> Text,
        prefix -> Text,
        last4 -> Text,
        digest -> Text,
        scopes -> Text,
        expires_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::joinable!(api_keys -> users (user_id));
diesel::joinable!(api_keys -> loggers (logger_id));

diesel::table! {
    power_rollups (cell_id, width, bucket) {
        cell_id -> Integer,
        width -> Integer,
        bucket -> BigInt,
        n_v -> BigInt,
        sum_v -> Double,
        n_i -> BigInt,
        sum_i -> Double,
        n_p -> BigInt,
        sum_p -> Double,
    }
}

diesel::table! {
    teros_rollups (cell_id, width, bucket) {
        cell_id -> Integer,
        width -> Integer,
        bucket -> BigInt,
        n_vwc -> BigInt,
        sum_vwc -> Double,
        n_raw -> BigInt,
        sum_raw -> Double,
        n_temp -> BigInt,
        sum_temp -> Double,
        n_ec -> BigInt,
        sum_ec -> Double,
    }
}

diesel::table! {
    data_rollups (sensor_id, width, bucket) {
        sensor_id -> Integer,
        width -> Integer,
        bucket -> BigInt,
        n -> BigInt,
        total -> Double,
    }
}

diesel::table! {
    jobs (id) {
        id -> Text,
        kind -> Text,
        owner_id -> Nullable<Text>,
        state -> Text,
        payload -> Text,
        progress_done -> BigInt,
        progress_total -> BigInt,
        attempts -> Integer,
        error -> Nullable<Text>,
        result -> Nullable<Text>,
        request_id -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        started_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
        run_after -> Nullable<Timestamp>,
    }
}

diesel::table! {
    job_artifacts (job_id) {
        job_id -> Text,
        name -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    opendata_approvals (year, month) {
        year -> Integer,
        month -> Integer,
        approved_by -> Nullable<Text>,
        approved_at -> Timestamp,
    }
}

diesel::table! {
    device_enrolments (logger_id) {
        logger_id -> Integer,
        public_key -> Text,
        available_slots -> BigInt,
        quota_expiry -> Timestamp,
        enrolled_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    upload_receipts (logger_id, locator) {
        logger_id -> Integer,
        locator -> Text,
        body_sha256 -> Text,
        row_count -> Integer,
        committed_at -> Timestamp,
        receipt -> Text,
    }
}

diesel::table! {
    firmware (id) {
        id -> Integer,
        name -> Text,
        version -> Text,
        notes -> Nullable<Text>,
        sha256 -> Text,
        size_bytes -> BigInt,
        user_id -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    logger_firmware (logger_id) {
        logger_id -> Integer,
        firmware_id -> Integer,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(device_enrolments -> loggers (logger_id));
diesel::joinable!(upload_receipts -> loggers (logger_id));
diesel::joinable!(logger_firmware -> firmware (firmware_id));
diesel::joinable!(logger_firmware -> loggers (logger_id));
diesel::allow_tables_to_appear_in_same_query!(firmware, logger_firmware, loggers);

diesel::table! {
    audit_log (id) {
        id -> Integer,
        at -> Timestamp,
        actor_id -> Text,
        action -> Text,
        subject_id -> Nullable<Text>,
        detail -> Text,
    }
}

diesel::table! {
    logger_uploads (id) {
        id -> BigInt,
        logger_id -> Integer,
        cell_id -> Nullable<Integer>,
        at -> Timestamp,
        row_count -> Integer,
        voltage -> Nullable<Double>,
        firmware -> Nullable<Text>,
    }
}

diesel::table! {
    logger_upload_hours (logger_id, hour) {
        logger_id -> Integer,
        hour -> BigInt,
        uploads -> BigInt,
        row_count -> BigInt,
    }
}

diesel::table! {
    alert_rules (id) {
        id -> Integer,
        owner_id -> Text,
        name -> Text,
        cell_id -> Nullable<Integer>,
        logger_id -> Nullable<Integer>,
        condition -> Text,
        repeat_minutes -> Nullable<Integer>,
        notify_recovery -> Bool,
        webhook_url -> Nullable<Text>,
        secret -> Text,
        enabled -> Bool,
        firing_since -> Nullable<Timestamp>,
        last_notified_at -> Nullable<Timestamp>,
        evaluated_period -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    alert_events (id) {
        id -> BigInt,
        rule_id -> Integer,
        kind -> Text,
        at -> Timestamp,
        cell_id -> Nullable<Integer>,
        logger_id -> Nullable<Integer>,
        message -> Text,
        value -> Nullable<Double>,
    }
}

diesel::table! {
    alert_deliveries (id) {
        id -> BigInt,
        event_id -> BigInt,
        rule_id -> Integer,
        url -> Text,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        claimed_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    alert_attempts (id) {
        id -> BigInt,
        delivery_id -> BigInt,
        rule_id -> Integer,
        at -> Timestamp,
        status -> Nullable<Integer>,
        error -> Nullable<Text>,
        duration_ms -> Integer,
    }
}

diesel::joinable!(alert_events -> alert_rules (rule_id));
diesel::joinable!(alert_deliveries -> alert_events (event_id));
diesel::allow_tables_to_appear_in_same_query!(
    alert_rules,
    alert_events,
    alert_deliveries,
    alert_attempts
);
diesel::allow_tables_to_appear_in_same_query!(logger_uploads, loggers, device_enrolments);
