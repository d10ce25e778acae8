//! Alert rules, the events they raise and their webhook deliveries. Evaluation is claimed per
//! rule and period with one conditional update, so however many workers run, each rule is
//! judged once per period; a delivery is claimed the same way before it is sent.

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;

use crate::schema::{
    alert_attempts, alert_deliveries, alert_events, alert_rules, data, power_data, sensors,
    teros_data,
};
use crate::{DbConn, DbError};

/// Most readings a threshold rule looks at per evaluation.
const MAX_READINGS: i64 = 20_000;

/// A person's alert rule as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = alert_rules)]
pub struct AlertRule {
    /// Row id.
    pub id: i32,
    /// Who made it (and reads its events and deliveries).
    pub owner_id: String,
    /// A name people recognise in a notification.
    pub name: String,
    /// The cell a threshold rule watches (and whose room hears its events).
    pub cell_id: Option<i32>,
    /// The logger a silence rule watches.
    pub logger_id: Option<i32>,
    /// The condition as JSON (its shape is the API's business).
    pub condition: String,
    /// While firing, notify again this often; `None`: once.
    pub repeat_minutes: Option<i32>,
    /// Whether resolving is notified too.
    pub notify_recovery: bool,
    /// Where deliveries go, if anywhere.
    pub webhook_url: Option<String>,
    /// Signs webhook bodies.
    pub secret: String,
    /// Disabled rules are not evaluated.
    pub enabled: bool,
    /// When the current firing began; `None` while not firing.
    pub firing_since: Option<NaiveDateTime>,
    /// When it last notified.
    pub last_notified_at: Option<NaiveDateTime>,
    /// The last evaluation period claimed.
    pub evaluated_period: i64,
    /// Creation time (UTC).
    pub created_at: NaiveDateTime,
}

/// The fields a new rule sets.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = alert_rules)]
pub struct NewAlertRule {
    /// Its owner.
    pub owner_id: String,
    /// Its name.
    pub name: String,
    /// Watched cell.
    pub cell_id: Option<i32>,
    /// Watched logger.
    pub logger_id: Option<i32>,
    /// Condition JSON.
    pub condition: String,
    /// Repeat interval.
    pub repeat_minutes: Option<i32>,
    /// Notify resolving.
    pub notify_recovery: bool,
    /// Webhook.
    pub webhook_url: Option<String>,
    /// HMAC secret.
    pub secret: String,
    /// Evaluated or not.
    pub enabled: bool,
    /// Starts unclaimed.
    pub evaluated_period: i64,
    /// Creation time.
    pub created_at: NaiveDateTime,
}

/// What a person may change on a rule (`None`: unchanged).
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = alert_rules)]
pub struct RuleChanges {
    /// New name.
    pub name: Option<String>,
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// New repeat interval (`Some(None)` clears it).
    pub repeat_minutes: Option<Option<i32>>,
    /// Notify resolving.
    pub notify_recovery: Option<bool>,
    /// New webhook (`Some(None)` removes it).
    pub webhook_url: Option<Option<String>>,
}

/// An event a rule raised.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = alert_events)]
pub struct AlertEvent {
    /// Row id (increasing: the live feed follows it).
    pub id: i64,
    /// The rule.
    pub rule_id: i32,
    /// `firing`, `repeat` or `resolved`.
    pub kind: String,
    /// When (UTC).
    pub at: NaiveDateTime,
    /// The cell concerned, when known.
    pub cell_id: Option<i32>,
    /// The logger concerned, when known.
    pub logger_id: Option<i32>,
    /// What happened, for people.
    pub message: String,
    /// The value that decided it (silence in seconds, or the reading).
    pub value: Option<f64>,
}

/// The fields of a new event.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = alert_events)]
pub struct NewAlertEvent {
    /// The rule.
    pub rule_id: i32,
    /// `firing`, `repeat` or `resolved`.
    pub kind: String,
    /// When.
    pub at: NaiveDateTime,
    /// Cell concerned.
    pub cell_id: Option<i32>,
    /// Logger concerned.
    pub logger_id: Option<i32>,
    /// Message.
    pub message: String,
    /// Deciding value.
    pub value: Option<f64>,
}

/// A webhook delivery of one event.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = alert_deliveries)]
pub struct AlertDelivery {
    /// Row id.
    pub id: i64,
    /// The event delivered.
    pub event_id: i64,
    /// Its rule.
    pub rule_id: i32,
    /// Where it goes.
    pub url: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    /// Attempts so far.
    pub attempts: i32,
    /// When the next attempt is due.
    pub next_attempt_at: NaiveDateTime,
    /// A sender holds it until then.
    pub claimed_until: Option<NaiveDateTime>,
}

/// One attempt at a delivery, with the event it carried.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct AttemptRecord {
    /// Attempt row id.
    pub id: i64,
    /// The delivery.
    pub delivery_id: i64,
    /// The event delivered.
    pub event_id: i64,
    /// The event's kind.
    pub event_kind: String,
    /// When it was made.
    pub at: NaiveDateTime,
    /// The receiver's HTTP status, when one came.
    pub status: Option<i32>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: i32,
    /// The delivery's state after it.
    pub delivery_state: String,
}

/// Adds a rule unless its owner already has `cap` rules; returns it, or `Err(count)` with the
/// owner's number of rules. Concurrent adds of one owner are serialized (Postgres: the owner's
/// row is locked; SQLite: write transactions are), so the cap holds under any concurrency.
pub fn insert_rule(
    conn: &mut DbConn,
    rule: &NewAlertRule,
    cap: i64,
) -> Result<Result<AlertRule, i64>, DbError> {
    use crate::schema::users;
    crate::write_transaction(conn, |c| {
        if let DbConn::Postgres(pg) = c {
            users::table
                .find(&rule.owner_id)
                .select(users::id)
                .for_update()
                .load::<String>(pg)?;
        }
        let existing = count_rules(c, &rule.owner_id)?;
        if existing >= cap {
            return Ok(Err(existing));
        }
        diesel::insert_into(alert_rules::table)
            .values(rule)
            .execute(c)?;
        // The secret is random and unique: it names the row just written.
        Ok(Ok(alert_rules::table
            .filter(alert_rules::secret.eq(&rule.secret))
            .select(AlertRule::as_select())
            .first(c)?))
    })
}

/// A rule by id.
pub fn find_rule(conn: &mut DbConn, id: i32) -> Result<Option<AlertRule>, DbError> {
    Ok(alert_rules::table
        .find(id)
        .select(AlertRule::as_select())
        .first(conn)
        .optional()?)
}

/// `owner`'s rules (every rule with `None`), by id.
pub fn list_rules(conn: &mut DbConn, owner: Option<&str>) -> Result<Vec<AlertRule>, DbError> {
    Ok(match owner {
        Some(owner) => alert_rules::table
            .filter(alert_rules::owner_id.eq(owner))
            .order(alert_rules::id)
            .select(AlertRule::as_select())
            .load(conn)?,
        None => alert_rules::table
            .order(alert_rules::id)
            .select(AlertRule::as_select())
            .load(conn)?,
    })
}

/// Changes a rule; returns it, or `None` when it is gone.
pub fn update_rule(
    conn: &mut DbConn,
    id: i32,
    changes: &RuleChanges,
) -> Result<Option<AlertRule>, DbError> {
    crate::write_transaction(conn, |c| {
        if changes.name.is_some()
            || changes.enabled.is_some()
            || changes.repeat_minutes.is_some()
            || changes.notify_recovery.is_some()
            || changes.webhook_url.is_some()
        {
            diesel::update(alert_rules::table.find(id))
                .set(changes)
                .execute(c)?;
        }
        // A disabled rule is not watching: it ends any firing (no event).
        if changes.enabled == Some(false) {
            clear_firing(c, id)?;
        }
        find_rule(c, id)
    })
}

/// Deletes a rule with its events and deliveries.
pub fn delete_rule(conn: &mut DbConn, id: i32) -> Result<bool, DbError> {
    crate::write_transaction(conn, |c| {
        diesel::delete(alert_attempts::table.filter(alert_attempts::rule_id.eq(id))).execute(c)?;
        diesel::delete(alert_deliveries::table.filter(alert_deliveries::rule_id.eq(id)))
            .execute(c)?;
        diesel::delete(alert_events::table.filter(alert_events::rule_id.eq(id))).execute(c)?;
        Ok(diesel::delete(alert_rules::table.find(id)).execute(c)? > 0)
    })
}

/// How many rules `owner` has (a person's rules are capped).
pub fn count_rules(conn: &mut DbConn, owner: &str) -> Result<i64, DbError> {
    Ok(alert_rules::table
        .filter(alert_rules::owner_id.eq(owner))
        .count()
        .get_result(conn)?)
}

/// Whether the rule's owner may still watch what it watches: an administrator; for a logger,
/// its owner; for a cell, a member, or anyone when the cell is public. Checked at every
/// evaluation, so a rule stops telling its owner about a cell they were removed from.
pub fn owner_may_watch(conn: &mut DbConn, rule: &AlertRule) -> Result<bool, DbError> {
    use crate::schema::{cells, loggers, users};
    let is_admin: bool = users::table
        .find(&rule.owner_id)
        .select(users::is_admin)
        .first::<bool>(conn)
        .optional()?
        .unwrap_or(false);
    if is_admin {
        return Ok(true);
    }
    if let Some(logger) = rule.logger_id {
        let owner: Option<Option<String>> = loggers::table
            .find(logger)
            .select(loggers::user_id)
            .first(conn)
            .optional()?;
        if owner.flatten().as_deref() != Some(rule.owner_id.as_str()) {
            return Ok(false);
        }
    }
    if let Some(cell) = rule.cell_id {
        let public: Option<bool> = cells::table
            .find(cell)
            .select(cells::public)
            .first(conn)
            .optional()?;
        match public {
            None => return Ok(false),
            Some(true) => {}
            Some(false) => {
                if !crate::cells::is_member(conn, cell, &rule.owner_id)? {
                    return Ok(false);
                }
            }
        }
    }
    Ok(true)
}

/// Whether any rule is enabled (no rule, no evaluation job).
pub fn any_enabled(conn: &mut DbConn) -> Result<bool, DbError> {
    Ok(diesel::select(diesel::dsl::exists(
        alert_rules::table.filter(alert_rules::enabled.eq(true)),
    ))
    .get_result(conn)?)
}

/// Enabled rules not yet evaluated in `period`.
pub fn due_rules(conn: &mut DbConn, period: i64) -> Result<Vec<AlertRule>, DbError> {
    Ok(alert_rules::table
        .filter(alert_rules::enabled.eq(true))
        .filter(alert_rules::evaluated_period.lt(period))
        .order(alert_rules::id)
        .select(AlertRule::as_select())
        .load(conn)?)
}

/// Claims the evaluation of `rule_id` for `period`: true for exactly one caller per period.
pub fn claim_period(conn: &mut DbConn, rule_id: i32, period: i64) -> Result<bool, DbError> {
    let claimed = diesel::update(
        alert_rules::table
            .filter(alert_rules::id.eq(rule_id))
            .filter(alert_rules::enabled.eq(true))
            .filter(alert_rules::evaluated_period.lt(period)),
    )
    .set(alert_rules::evaluated_period.eq(period))
    .execute(conn)?;
    Ok(claimed == 1)
}

/// Records what an evaluation decided, in one transaction: the event, the rule's new firing
/// state (`firing_since`: `Some` while firing) and, when the rule has a webhook, its delivery.
pub fn record_event(
    conn: &mut DbConn,
    event: &NewAlertEvent,
    firing_since: Option<NaiveDateTime>,
    webhook: Option<&str>,
) -> Result<AlertEvent, DbError> {
    crate::write_transaction(conn, |c| {
        crate::on_backend!(c, c => diesel::insert_into(alert_events::table)
            .values(event)
            .execute(c))?;
        let stored: AlertEvent = alert_events::table
            .filter(alert_events::rule_id.eq(event.rule_id))
            .order(alert_events::id.desc())
            .select(AlertEvent::as_select())
            .first(c)?;
        diesel::update(alert_rules::table.find(event.rule_id))
            .set((
                alert_rules::firing_since.eq(firing_since),
                alert_rules::last_notified_at.eq(Some(event.at)),
            ))
            .execute(c)?;
        if let Some(url) = webhook {
            diesel::insert_into(alert_deliveries::table)
                .values((
                    alert_deliveries::event_id.eq(stored.id),
                    alert_deliveries::rule_id.eq(event.rule_id),
                    alert_deliveries::url.eq(url),
                    alert_deliveries::state.eq("pending"),
                    alert_deliveries::attempts.eq(0),
                    alert_deliveries::next_attempt_at.eq(event.at),
                ))
                .execute(c)?;
        }
        Ok(stored)
    })
}

/// Marks a rule resolved without an event (recovery notices are off).
pub fn clear_firing(conn: &mut DbConn, rule_id: i32) -> Result<(), DbError> {
    diesel::update(alert_rules::table.find(rule_id))
        .set(alert_rules::firing_since.eq(None::<NaiveDateTime>))
        .execute(conn)?;
    Ok(())
}

/// A rule's events, newest first.
pub fn events(conn: &mut DbConn, rule_id: i32, limit: i64) -> Result<Vec<AlertEvent>, DbError> {
    Ok(alert_events::table
        .filter(alert_events::rule_id.eq(rule_id))
        .order(alert_events::id.desc())
        .limit(limit)
        .select(AlertEvent::as_select())
        .load(conn)?)
}

/// Events after `id` with their rule's name and owner, oldest first: what the live feed has
/// not pushed yet.
pub fn events_after(
    conn: &mut DbConn,
    id: i64,
    limit: i64,
) -> Result<Vec<(AlertEvent, String, String)>, DbError> {
    Ok(alert_events::table
        .inner_join(alert_rules::table)
        .filter(alert_events::id.gt(id))
        .order(alert_events::id)
        .limit(limit)
        .select((
            AlertEvent::as_select(),
            alert_rules::name,
            alert_rules::owner_id,
        ))
        .load(conn)?)
}

/// The newest event id (0 with none): where a starting live feed begins.
pub fn latest_event_id(conn: &mut DbConn) -> Result<i64, DbError> {
    Ok(alert_events::table
        .select(diesel::dsl::max(alert_events::id))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0))
}

/// Claims up to `limit` deliveries due at `now` for `hold` (so no other sender takes them);
/// returns them with their events.
pub fn claim_due_deliveries(
    conn: &mut DbConn,
    now: NaiveDateTime,
    hold: TimeDelta,
    limit: i64,
) -> Result<Vec<(AlertDelivery, AlertEvent)>, DbError> {
    let due: Vec<i64> = alert_deliveries::table
        .filter(alert_deliveries::state.eq("pending"))
        .filter(alert_deliveries::next_attempt_at.le(now))
        .filter(
            alert_deliveries::claimed_until
                .is_null()
                .or(alert_deliveries::claimed_until.lt(now)),
        )
        .order(alert_deliveries::next_attempt_at)
        .limit(limit)
        .select(alert_deliveries::id)
        .load(conn)?;
    let mut claimed = Vec::new();
    for id in due {
        let got = diesel::update(
            alert_deliveries::table
                .filter(alert_deliveries::id.eq(id))
                .filter(alert_deliveries::state.eq("pending"))
                .filter(
                    alert_deliveries::claimed_until
                        .is_null()
                        .or(alert_deliveries::claimed_until.lt(now)),
                ),
        )
        .set(alert_deliveries::claimed_until.eq(Some(now + hold)))
        .execute(conn)?;
        if got == 1 {
            claimed.push(id);
        }
    }
    Ok(alert_deliveries::table
        .inner_join(alert_events::table)
        .filter(alert_deliveries::id.eq_any(&claimed))
        .order(alert_deliveries::id)
        .select((AlertDelivery::as_select(), AlertEvent::as_select()))
        .load(conn)?)
}

/// What became of one attempt.
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    /// When it was made.
    pub at: NaiveDateTime,
    /// The receiver's status, when one came.
    pub status: Option<i32>,
    /// Why it failed.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: i32,
    /// `None`: delivered; `Some(Some(t))`: retry at `t`; `Some(None)`: out of attempts.
    pub retry: Option<Option<NaiveDateTime>>,
}

/// Records an attempt and the delivery's new state, in one transaction.
pub fn record_attempt(
    conn: &mut DbConn,
    delivery: &AlertDelivery,
    outcome: &AttemptOutcome,
) -> Result<(), DbError> {
    crate::write_transaction(conn, |c| {
        diesel::insert_into(alert_attempts::table)
            .values((
                alert_attempts::delivery_id.eq(delivery.id),
                alert_attempts::rule_id.eq(delivery.rule_id),
                alert_attempts::at.eq(outcome.at),
                alert_attempts::status.eq(outcome.status),
                alert_attempts::error.eq(outcome.error.as_deref()),
                alert_attempts::duration_ms.eq(outcome.duration_ms),
            ))
            .execute(c)?;
        let (state, next) = match outcome.retry {
            None => ("delivered", outcome.at),
            Some(Some(next)) => ("pending", next),
            Some(None) => ("failed", outcome.at),
        };
        diesel::update(alert_deliveries::table.find(delivery.id))
            .set((
                alert_deliveries::state.eq(state),
                alert_deliveries::attempts.eq(delivery.attempts + 1),
                alert_deliveries::next_attempt_at.eq(next),
                alert_deliveries::claimed_until.eq(None::<NaiveDateTime>),
            ))
            .execute(c)?;
        Ok(())
    })
}

/// A rule's delivery log: every attempt, newest first.
pub fn attempts(
    conn: &mut DbConn,
    rule_id: i32,
    limit: i64,
) -> Result<Vec<AttemptRecord>, DbError> {
    Ok(alert_attempts::table
        .inner_join(
            alert_deliveries::table.on(alert_deliveries::id.eq(alert_attempts::delivery_id)),
        )
        .inner_join(alert_events::table.on(alert_events::id.eq(alert_deliveries::event_id)))
        .filter(alert_attempts::rule_id.eq(rule_id))
        .order(alert_attempts::id.desc())
        .limit(limit)
        .select((
            alert_attempts::id,
            alert_attempts::delivery_id,
            alert_events::id,
            alert_events::kind,
            alert_attempts::at,
            alert_attempts::status,
            alert_attempts::error,
            alert_attempts::duration_ms,
            alert_deliveries::state,
        ))
        .load(conn)?)
}

/// A series a threshold rule can watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Series {
    /// A power column: `voltage` or `current`.
    Power(PowerColumn),
    /// A TEROS column.
    Teros(TerosColumn),
    /// A generic sensor's values by (name, measurement).
    Sensor {
        /// Sensor kind, e.g. `bme280`.
        name: String,
        /// Quantity, e.g. `temperature`.
        measurement: String,
    },
}

/// Power columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerColumn {
    /// Volts.
    Voltage,
    /// Amperes.
    Current,
}

/// TEROS columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TerosColumn {
    /// Volumetric water content (fraction).
    Vwc,
    /// Raw VWC counts.
    RawVwc,
    /// Temperature, °C.
    Temp,
    /// Electrical conductivity.
    Ec,
    /// Water potential.
    WaterPot,
}

/// A cell's readings of `series` stamped at or after `since` (device time), oldest first.
pub fn readings(
    conn: &mut DbConn,
    cell_id: i32,
    series: &Series,
    since: NaiveDateTime,
) -> Result<Vec<(NaiveDateTime, f64)>, DbError> {
    let rows: Vec<(NaiveDateTime, Option<f64>)> = match series {
        Series::Power(column) => {
            let base = power_data::table
                .filter(power_data::cell_id.eq(cell_id))
                .filter(power_data::ts.ge(since))
                .order(power_data::ts)
                .limit(MAX_READINGS);
            match column {
                PowerColumn::Voltage => base
                    .select((power_data::ts, power_data::voltage))
                    .load(conn)?,
                PowerColumn::Current => base
                    .select((power_data::ts, power_data::current))
                    .load(conn)?,
            }
        }
        Series::Teros(column) => {
            let base = teros_data::table
                .filter(teros_data::cell_id.eq(cell_id))
                .filter(teros_data::ts.ge(since))
                .order(teros_data::ts)
                .limit(MAX_READINGS);
            match column {
                TerosColumn::Vwc => base.select((teros_data::ts, teros_data::vwc)).load(conn)?,
                TerosColumn::RawVwc => base
                    .select((teros_data::ts, teros_data::raw_vwc))
                    .load(conn)?,
                TerosColumn::Temp => base.select((teros_data::ts, teros_data::temp)).load(conn)?,
                TerosColumn::WaterPot => base
                    .select((teros_data::ts, teros_data::water_pot))
                    .load(conn)?,
                TerosColumn::Ec => base
                    .select((teros_data::ts, teros_data::ec))
                    .load::<(NaiveDateTime, Option<i32>)>(conn)?
                    .into_iter()
                    .map(|(ts, ec)| (ts, ec.map(f64::from)))
                    .collect(),
            }
        }
        Series::Sensor { name, measurement } => {
            let ids: Vec<i32> = sensors::table
                .filter(sensors::cell_id.eq(cell_id))
                .filter(sensors::name.eq(name))
                .filter(sensors::measurement.eq(measurement))
                .select(sensors::id)
                .load(conn)?;
            let values: Vec<(NaiveDateTime, Option<f64>, Option<i64>)> = data::table
                .filter(data::sensor_id.eq_any(&ids))
                .filter(data::ts.ge(since))
                .order(data::ts)
                .limit(MAX_READINGS)
                .select((data::ts, data::float_val, data::int_val))
                .load(conn)?;
            // Integer readings of sensors are small counts; f64 holds them exactly.
            #[allow(clippy::cast_precision_loss)]
            values
                .into_iter()
                .map(|(ts, f, i)| (ts, f.or(i.map(|i| i as f64))))
                .collect()
        }
    };
    Ok(rows
        .into_iter()
        .filter_map(|(ts, v)| v.filter(|v| v.is_finite()).map(|v| (ts, v)))
        .collect())
}
