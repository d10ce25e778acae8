//! The audit trail of administrators' actions on accounts: appended to in the same
//! transaction as the change it records, read newest first.

use diesel::prelude::*;

use crate::models::{AuditEntry, NewAuditEntry};
use crate::schema::audit_log;
use crate::{DbConn, DbError};

/// Appends one record.
pub fn record(conn: &mut DbConn, entry: &NewAuditEntry<'_>) -> Result<(), DbError> {
    diesel::insert_into(audit_log::table)
        .values(entry)
        .execute(conn)?;
    Ok(())
}

/// A page of the trail, newest first, with the number of records in all.
pub fn page(conn: &mut DbConn, limit: i64, offset: i64) -> Result<(Vec<AuditEntry>, i64), DbError> {
    let total = audit_log::table.count().get_result(conn)?;
    let entries = audit_log::table
        .select(AuditEntry::as_select())
        .order((audit_log::at.desc(), audit_log::id.desc()))
        .limit(limit)
        .offset(offset)
        .load(conn)?;
    Ok((entries, total))
}
