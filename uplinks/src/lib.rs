//! Uplinks: the upload rules every door applies before a commit — who may write as which logger
//! into which cells, plausible timestamps, the raw retention horizon — as one pure function
//! ([`rules::prepare`]) shared by the API's HTTP doors and the MQTT subscriber ([`mqtt`]), which
//! takes TTN and ChirpStack uplinks from a broker in the worker (or the API process when it runs
//! jobs itself) and acknowledges each only after its rows are committed.

pub mod mqtt;
pub mod rules;
pub mod writer;

pub use rules::{Prepared, Refusal, Writer, prepare};
