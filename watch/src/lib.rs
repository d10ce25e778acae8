//! Judging the field from stored facts: whether a logger is `ok`, `late`, `silent` or was never
//! seen (from the times of its uploads), and whether an alert rule's condition holds. Pure
//! functions of the facts and a clock, so the API, the worker and the tests judge alike.

pub mod device;
pub mod rules;
