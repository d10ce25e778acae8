//! Exports: ENTS's single CSV ([`ExportCells`]) and Loam's ZIP of one CSV per cell and sensor
//! ([`ExportZip`]).

mod archive;
mod cells;

pub use archive::{ExportZip, Series};
pub use cells::{ExportCells, HEADER};
