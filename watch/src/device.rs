//! Device health: a logger's usual upload interval is learned from its recent uploads (the
//! median gap, ignoring the bursts in which one wake-up sends power and TEROS uploads together),
//! and its current silence is judged against it.

use chrono::NaiveDateTime;

/// Gaps shorter than this are one wake-up's burst (e.g. a power and a TEROS upload sent
/// together), not an interval.
pub const BURST_SECS: i64 = 10;

/// The interval assumed while fewer than two wake-ups are known: ENTS loggers upload every few
/// minutes, so a quarter of an hour flags a dead one without crying wolf.
pub const DEFAULT_INTERVAL_SECS: i64 = 15 * 60;

/// Silence beyond this many intervals is `late` (one expected upload missed, with slack).
pub const LATE_AFTER: f64 = 2.0;

/// Silence beyond this many intervals is `silent` (several missed: go and look).
pub const SILENT_AFTER: f64 = 6.0;

/// A logger's health state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    /// Uploading about as often as usual.
    Ok,
    /// Quieter than `LATE_AFTER` usual intervals.
    Late,
    /// Quieter than `SILENT_AFTER` usual intervals.
    Silent,
    /// No upload was ever recorded.
    NeverSeen,
}

impl State {
    /// The name used on the wire and in queries.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::Late => "late",
            State::Silent => "silent",
            State::NeverSeen => "never_seen",
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "ok" => Some(State::Ok),
            "late" => Some(State::Late),
            "silent" => Some(State::Silent),
            "never_seen" => Some(State::NeverSeen),
            _ => None,
        }
    }
}

/// The usual time between a logger's wake-ups, in seconds, from its upload times (any order).
/// One wake-up may send several uploads (power, then TEROS seconds later), so uploads are first
/// grouped into bursts: a gap joins two uploads into one burst when it is at most
/// [`BURST_SECS`] or at most half the long gaps (the 90th percentile), which separates a
/// device's own rhythm of bursts and pauses whatever its radio's spacing. The interval is the
/// median time between the starts of consecutive bursts; `None` until three bursts are known
/// (one gap alone cannot tell a burst from an interval).
pub fn learned_interval(times: &[NaiveDateTime]) -> Option<i64> {
    let mut sorted: Vec<i64> = times.iter().map(|t| t.and_utc().timestamp()).collect();
    sorted.sort_unstable();
    let gaps: Vec<i64> = sorted
        .windows(2)
        .filter_map(|w| match w {
            [a, b] => Some(b - a),
            _ => None,
        })
        .collect();
    let mut ordered = gaps.clone();
    ordered.sort_unstable();
    // The 90th percentile, rounded up (with few gaps, the longer one).
    let long = ordered
        .get((ordered.len().saturating_sub(1) * 9).div_ceil(10))
        .copied()?;
    let joins = BURST_SECS.max(long / 2);
    let mut starts: Vec<i64> = sorted.first().copied().into_iter().collect();
    for (gap, time) in gaps.iter().zip(sorted.iter().skip(1)) {
        if *gap > joins {
            starts.push(*time);
        }
    }
    let mut between: Vec<i64> = starts
        .windows(2)
        .filter_map(|w| match w {
            [a, b] => Some(b - a),
            _ => None,
        })
        .collect();
    if between.len() < 2 {
        return None;
    }
    between.sort_unstable();
    let mid = between.len() / 2;
    match (
        between.len() % 2,
        between.get(mid),
        mid.checked_sub(1).and_then(|m| between.get(m)),
    ) {
        (1, Some(m), _) => Some(*m),
        (_, Some(hi), Some(lo)) => Some((hi + lo) / 2),
        _ => None,
    }
}

/// What health says about one logger at `now`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judgement {
    /// The state.
    pub state: State,
    /// Seconds since the last upload (`None`: never seen).
    pub silence_secs: Option<i64>,
    /// The interval judged against, seconds.
    pub interval_secs: i64,
    /// Whether the interval was learned from uploads (else [`DEFAULT_INTERVAL_SECS`]).
    pub interval_learned: bool,
}

/// Judges a logger from its recent upload times at `now`.
pub fn judge(times: &[NaiveDateTime], now: NaiveDateTime) -> Judgement {
    let learned = learned_interval(times);
    let interval_secs = learned.unwrap_or(DEFAULT_INTERVAL_SECS);
    let Some(last) = times.iter().max() else {
        return Judgement {
            state: State::NeverSeen,
            silence_secs: None,
            interval_secs,
            interval_learned: learned.is_some(),
        };
    };
    let silence = (now - *last).num_seconds().max(0);
    Judgement {
        state: state_for(silence, interval_secs),
        silence_secs: Some(silence),
        interval_secs,
        interval_learned: learned.is_some(),
    }
}

/// The state of a logger quiet for `silence` seconds whose usual interval is `interval`.
pub fn state_for(silence: i64, interval: i64) -> State {
    // Precision is irrelevant at these magnitudes (seconds, far below 2^52).
    #[allow(clippy::cast_precision_loss)]
    let ratio = silence as f64 / interval.max(1) as f64;
    if ratio > SILENT_AFTER {
        State::Silent
    } else if ratio > LATE_AFTER {
        State::Late
    } else {
        State::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn at(secs: i64) -> NaiveDateTime {
        DateTime::from_timestamp(secs, 0)
            .map(|t| t.naive_utc())
            .unwrap_or_default()
    }

    #[test]
    fn bursts_do_not_shrink_the_interval() {
        // Power and TEROS arrive together every 60 s: the gaps alternate ~0 and ~60.
        let times: Vec<_> = (0..10).flat_map(|i| [at(i * 60), at(i * 60 + 1)]).collect();
        assert_eq!(learned_interval(&times), Some(60));
        // TEROS 11 s after power, every 45 s (LoRa duty cycle spacing): still 45.
        let spaced: Vec<_> = (0..8).flat_map(|i| [at(i * 45), at(i * 45 + 11)]).collect();
        assert_eq!(learned_interval(&spaced), Some(45));
        // Three uploads per wake-up, every 5 minutes.
        let triple: Vec<_> = (0..6)
            .flat_map(|i| [at(i * 300), at(i * 300 + 20), at(i * 300 + 40)])
            .collect();
        assert_eq!(learned_interval(&triple), Some(300));
        // One wake-up, or two, is not enough to learn from.
        assert_eq!(learned_interval(&[at(0), at(11)]), None);
        assert_eq!(learned_interval(&[at(0), at(11), at(45), at(56)]), None);
        assert_eq!(learned_interval(&[at(0)]), None);
        assert_eq!(learned_interval(&[at(0), at(60), at(120)]), Some(60));
        // A gap half as long as the others could be a burst: not enough to tell yet.
        assert_eq!(learned_interval(&[at(0), at(100), at(300)]), None);
        // A long outage among regular uploads does not swallow them.
        let mut outage: Vec<_> = (0..20).map(|i| at(i * 60)).collect();
        outage.push(at(19 * 60 + 7200));
        assert_eq!(learned_interval(&outage), Some(60));
    }

    #[test]
    fn states_cross_at_their_boundaries() {
        let times: Vec<_> = (0..5).map(|i| at(i * 100)).collect();
        let last = 400;
        assert_eq!(judge(&times, at(last + 200)).state, State::Ok);
        assert_eq!(judge(&times, at(last + 201)).state, State::Late);
        assert_eq!(judge(&times, at(last + 600)).state, State::Late);
        assert_eq!(judge(&times, at(last + 601)).state, State::Silent);
        let j = judge(&[], at(0));
        assert_eq!((j.state, j.silence_secs), (State::NeverSeen, None));
        let one = judge(&[at(0)], at(DEFAULT_INTERVAL_SECS * 2 + 1));
        assert_eq!((one.state, one.interval_learned), (State::Late, false));
    }

    #[test]
    fn names_round_trip() {
        for s in [State::Ok, State::Late, State::Silent, State::NeverSeen] {
            assert_eq!(State::parse(s.as_str()), Some(s));
        }
        assert_eq!(State::parse("dead"), None);
    }
}
