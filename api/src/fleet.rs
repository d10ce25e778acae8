//! Device health as people read it: the stored facts of each logger judged at one instant
//! (`loam-watch`) and shaped into the wire answer, for one logger or a whole fleet.

use chrono::NaiveDateTime;
use loam_db::health::LoggerFacts;
use loam_schemas::fleet::{FirmwareHealth, FleetHealth, HealthCounts, HealthState, LoggerHealth};
use loam_schemas::wire::rfc3339;
use loam_watch::device::{State, judge};

/// What a fleet listing keeps.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FleetFilter {
    /// Only loggers whose recent uploads went to this cell.
    pub cell_id: Option<i32>,
    /// Only loggers in this state.
    pub state: Option<State>,
}

fn wire_state(state: State) -> HealthState {
    match state {
        State::Ok => HealthState::Ok,
        State::Late => HealthState::Late,
        State::Silent => HealthState::Silent,
        State::NeverSeen => HealthState::NeverSeen,
    }
}

/// Judges one logger at `now`.
pub(crate) fn logger_health(facts: &LoggerFacts, now: NaiveDateTime) -> LoggerHealth {
    let times: Vec<NaiveDateTime> = facts.recent.iter().map(|m| m.at).collect();
    let judgement = judge(&times, now);
    // `recent` is newest first.
    let last = facts.recent.first();
    let reported = facts.recent.iter().find_map(|m| m.firmware.clone());
    let desired = facts.desired_firmware.as_ref();
    let up_to_date = match (desired, &reported) {
        (Some(d), Some(r)) => Some(&d.version == r),
        _ => None,
    };
    LoggerHealth {
        logger_id: facts.logger.id,
        name: facts.logger.name.clone(),
        state: wire_state(judgement.state),
        last_seen: last.map(|m| rfc3339(m.at)),
        silence_secs: judgement.silence_secs,
        interval_secs: judgement.interval_secs,
        interval_learned: judgement.interval_learned,
        uploads_24h: facts.uploads_24h,
        rows_24h: facts.rows_24h,
        last_voltage: facts.recent.iter().find_map(|m| m.voltage),
        last_cell_id: last.and_then(|m| m.cell_id),
        receipt_slots: facts.enrolment.as_ref().map(|e| e.available_slots),
        quota_expiry: facts.enrolment.as_ref().map(|e| rfc3339(e.quota_expiry)),
        firmware: FirmwareHealth {
            desired: desired.map(|d| format!("{}/{}", d.name, d.version)),
            reported,
            up_to_date,
        },
    }
}

/// Judges a fleet at `now`, keeps what the filter asks for, quietest first (never seen last).
pub(crate) fn fleet_health(
    facts: &[LoggerFacts],
    filter: FleetFilter,
    now: NaiveDateTime,
) -> FleetHealth {
    let mut loggers: Vec<LoggerHealth> = facts
        .iter()
        .filter(|f| {
            filter
                .cell_id
                .is_none_or(|cell| f.recent.iter().any(|m| m.cell_id == Some(cell)))
        })
        .map(|f| logger_health(f, now))
        .filter(|h| filter.state.is_none_or(|s| h.state == wire_state(s)))
        .collect();
    loggers.sort_by_key(|h| {
        (
            h.silence_secs.is_none(),
            std::cmp::Reverse(h.silence_secs.unwrap_or(0)),
            h.logger_id,
        )
    });
    let mut counts = HealthCounts::default();
    for h in &loggers {
        match h.state {
            HealthState::Ok => counts.ok += 1,
            HealthState::Late => counts.late += 1,
            HealthState::Silent => counts.silent += 1,
            HealthState::NeverSeen => counts.never_seen += 1,
        }
    }
    FleetHealth {
        at: rfc3339(now),
        counts,
        loggers,
    }
}
