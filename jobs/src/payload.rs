//! Every kind of job as its record's `payload` column stores it.

use serde::{Deserialize, Serialize};

use crate::alerts::AlertSweep;
use crate::export::{ExportCells, ExportZip};
use crate::import::ImportCsv;
use crate::opendata::OpenDataMonth;
use crate::ttn::TtnSync;

/// Every kind of job, as stored in the record's `payload` column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Payload {
    /// ENTS's CSV export of cells (`/api/cell/datas`), one CSV for all cells.
    ExportCells(ExportCells),
    /// Loam's export: a ZIP with one CSV per cell and sensor.
    Export(ExportZip),
    /// Historical CSV into a cell, all or nothing.
    Import(ImportCsv),
    /// The monthly open-data ZIP of all public cells.
    OpenData(OpenDataMonth),
    /// Register or remove a logger's device on The Things Network.
    TtnSync(TtnSync),
    /// The period's evaluation of alert rules and their due webhook deliveries.
    AlertSweep(AlertSweep),
}

impl Payload {
    /// The record's `kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            Payload::ExportCells(_) => "export_cells",
            Payload::Export(_) => "export",
            Payload::Import(_) => "import",
            Payload::OpenData(_) => "opendata",
            Payload::TtnSync(_) => "ttn_sync",
            Payload::AlertSweep(_) => loam_db::jobs::ALERT_SWEEP,
        }
    }

    /// The payload as the record keeps it once the job has ended, when it held a secret (a
    /// TTN app key); `None` leaves the record as it is.
    pub fn scrubbed(&self) -> Option<Payload> {
        match self {
            Payload::TtnSync(sync) => sync.scrubbed().map(Payload::TtnSync),
            _ => None,
        }
    }
}
