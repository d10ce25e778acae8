//! Alert conditions and what a rule does next: fire once when its condition starts to hold,
//! repeat only at its repeat interval while it keeps holding, resolve when it stops. One firing
//! per rule until it resolves, so a flapping sensor cannot cause an alert storm.

use chrono::{NaiveDateTime, TimeDelta};

use crate::device::{Judgement, State};

/// Which side of a bound breaches a threshold rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Values strictly below the bound breach.
    Below,
    /// Values strictly above the bound breach.
    Above,
}

impl Side {
    /// Parses `below` / `above`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "below" => Some(Side::Below),
            "above" => Some(Side::Above),
            _ => None,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Below => "below",
            Side::Above => "above",
        }
    }

    fn breaches(self, value: f64, bound: f64) -> bool {
        match self {
            Side::Below => value < bound,
            Side::Above => value > bound,
        }
    }
}

/// Whether a silence rule holds for a logger judged as `judgement`: quiet for longer than
/// `minutes`, or longer than `factor` times its usual interval. A logger never seen does not
/// hold (there is nothing to fall silent yet).
pub fn silence_holds(judgement: &Judgement, minutes: Option<i64>, factor: Option<f64>) -> bool {
    let Some(silence) = judgement.silence_secs else {
        return false;
    };
    if judgement.state == State::NeverSeen {
        return false;
    }
    let by_minutes = minutes.is_some_and(|m| silence > m.saturating_mul(60));
    // Seconds are far below 2^52: no precision is lost.
    #[allow(clippy::cast_precision_loss)]
    let by_factor = factor.is_some_and(|k| silence as f64 > k * judgement.interval_secs as f64);
    by_minutes || by_factor
}

/// A threshold rule's verdict: the breach began at `since` and the latest reading is `value`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Breach {
    /// The first reading of the unbroken run of breaching readings that ends with the latest.
    pub since: NaiveDateTime,
    /// The latest reading.
    pub value: f64,
}

/// Whether the readings (any order) have breached `bound` on `side` without a break for at
/// least `for_minutes` before `now`: the latest reading breaches, and so does every reading
/// back to one at least that old.
pub fn threshold_holds(
    readings: &[(NaiveDateTime, f64)],
    side: Side,
    bound: f64,
    for_minutes: i64,
    now: NaiveDateTime,
) -> Option<Breach> {
    let mut sorted: Vec<&(NaiveDateTime, f64)> = readings.iter().collect();
    sorted.sort_by_key(|(ts, _)| *ts);
    let (_, latest) = **sorted.last()?;
    let mut since = None;
    for (ts, value) in sorted.iter().rev() {
        if side.breaches(*value, bound) {
            since = Some(*ts);
        } else {
            break;
        }
    }
    let since = since?;
    (now - since >= TimeDelta::minutes(for_minutes)).then_some(Breach {
        since,
        value: latest,
    })
}

/// What a rule does after an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The condition began to hold: one `firing` event.
    Fire,
    /// Still holding and the repeat interval has passed since the last notice.
    Repeat,
    /// It stopped holding: one `resolved` event.
    Resolve,
    /// Nothing to tell.
    Quiet,
}

/// The next step of a rule whose condition `holds` now, given whether it is firing, when it
/// last notified and its repeat interval (`None`: never repeat).
pub fn step(
    holds: bool,
    firing: bool,
    last_notified: Option<NaiveDateTime>,
    repeat_minutes: Option<i64>,
    now: NaiveDateTime,
) -> Step {
    match (holds, firing) {
        (true, false) => Step::Fire,
        (false, true) => Step::Resolve,
        (false, false) => Step::Quiet,
        (true, true) => match (repeat_minutes, last_notified) {
            (Some(every), Some(last)) if now - last >= TimeDelta::minutes(every.max(1)) => {
                Step::Repeat
            }
            _ => Step::Quiet,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::judge;
    use chrono::DateTime;

    fn at(secs: i64) -> NaiveDateTime {
        DateTime::from_timestamp(secs, 0)
            .map(|t| t.naive_utc())
            .unwrap_or_default()
    }

    #[test]
    fn threshold_needs_an_unbroken_run_as_long_as_asked() {
        let low = |s: i64, v: f64| (at(s), v);
        let readings = [low(0, 3.1), low(60, 2.8), low(120, 2.7), low(180, 2.8)];
        // The run began at 60 s; two minutes of it by 180 s.
        let hit = threshold_holds(&readings, Side::Below, 2.9, 2, at(180));
        assert_eq!(
            hit,
            Some(Breach {
                since: at(60),
                value: 2.8
            })
        );
        assert_eq!(
            threshold_holds(&readings, Side::Below, 2.9, 3, at(200)),
            None
        );
        // A recovered latest reading breaks the run.
        let recovered = [low(0, 2.0), low(60, 3.0)];
        assert_eq!(
            threshold_holds(&recovered, Side::Below, 2.9, 0, at(60)),
            None
        );
        assert_eq!(threshold_holds(&[], Side::Above, 1.0, 0, at(0)), None);
        assert!(threshold_holds(&[low(0, 9.0)], Side::Above, 1.0, 1, at(60)).is_some());
        // Equal to the bound is not a breach.
        assert_eq!(
            threshold_holds(&[low(0, 2.9)], Side::Below, 2.9, 0, at(0)),
            None
        );
    }

    #[test]
    fn silence_by_minutes_or_by_usual_interval() {
        let times: Vec<_> = (0..5).map(|i| at(i * 60)).collect();
        let j = judge(&times, at(240 + 301));
        assert!(silence_holds(&j, Some(5), None));
        assert!(!silence_holds(&j, Some(6), None));
        assert!(silence_holds(&j, None, Some(5.0)));
        assert!(!silence_holds(&j, None, Some(10.0)));
        assert!(!silence_holds(&judge(&[], at(10_000)), Some(1), Some(1.0)));
    }

    #[test]
    fn one_firing_until_resolved_then_repeats_on_schedule() {
        let now = at(10_000);
        assert_eq!(step(true, false, None, Some(30), now), Step::Fire);
        assert_eq!(
            step(true, true, Some(at(10_000 - 60)), None, now),
            Step::Quiet
        );
        assert_eq!(
            step(true, true, Some(at(10_000 - 60)), Some(30), now),
            Step::Quiet
        );
        assert_eq!(
            step(true, true, Some(at(10_000 - 1800)), Some(30), now),
            Step::Repeat
        );
        assert_eq!(step(false, true, Some(at(0)), Some(30), now), Step::Resolve);
        assert_eq!(step(false, false, None, None, now), Step::Quiet);
    }
}
