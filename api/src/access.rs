//! Who may see and change what. Outside ENTS compatibility mode a person reaches only cells they
//! are a member of (plus reads of public cells; admins everything); someone else's cell answers
//! 404 exactly like a missing one, so ids leak nothing. Compatibility mode adds ENTS's open
//! reads and the dashboard's anonymous writes (reference §15.1a), nothing more.

use loam_db::cells::Visibility;
use loam_db::models::Cell;

use crate::error::ApiError;
use crate::identity::{Caller, Scope};
use crate::state::AppState;

/// What the caller wants to do with a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// Read its metadata or data.
    Read,
    /// Change it (members and admins).
    Write,
    /// A write the unchanged ENTS dashboard makes without credentials: allowed anonymously in
    /// compatibility mode.
    DashboardWrite,
}

fn cell_not_found() -> ApiError {
    ApiError::NotFound("Cell not found".into())
}

/// The cell, if the caller may do `need` with it; otherwise 404 (or 401 for anonymous callers
/// outside compatibility mode, whatever the cell's existence).
pub(crate) async fn cell(
    state: &AppState,
    caller: &Caller,
    id: u32,
    need: Need,
) -> Result<Cell, ApiError> {
    let compat = state.config().ents_compat;
    let id = i32::try_from(id).map_err(|_| cell_not_found())?;
    let member_of = match caller {
        Caller::Person(p) if !p.is_admin => Some(p.user_id.clone()),
        Caller::Device(d) if !d.owner_is_admin => Some(d.owner_id.clone()),
        _ => None,
    };
    let (cell, is_member) = state
        .db()
        .run(move |c| {
            let cell = loam_db::cells::find(c, id)?;
            let member = match (&cell, &member_of) {
                (Some(_), Some(user)) => loam_db::cells::is_member(c, id, user)?,
                _ => false,
            };
            Ok((cell, member))
        })
        .await?;
    let allowed = |cell: &Cell| match caller {
        Caller::Person(p) => {
            p.is_admin || is_member || (need == Need::Read && (cell.public || compat))
        }
        Caller::Device(d) => {
            let owner_ok = d.owner_is_admin || is_member;
            match need {
                Need::Read => {
                    (d.scopes.contains(&Scope::Read) && owner_ok) || cell.public || compat
                }
                Need::Write | Need::DashboardWrite => d.scopes.contains(&Scope::Ingest) && owner_ok,
            }
        }
        Caller::Anonymous => match need {
            Need::Read => cell.public || compat,
            Need::DashboardWrite => compat,
            Need::Write => false,
        },
    };
    match cell {
        Some(cell) if allowed(&cell) => Ok(cell),
        _ if *caller == Caller::Anonymous && !(compat && need != Need::Write) => {
            Err(ApiError::Unauthorized("authentication required".into()))
        }
        _ => Err(cell_not_found()),
    }
}

/// Which cells a listing shows this caller.
pub(crate) fn visibility(state: &AppState, caller: &Caller) -> Visibility {
    if state.config().ents_compat {
        return Visibility::All;
    }
    match caller {
        Caller::Person(p) if p.is_admin => Visibility::All,
        Caller::Person(p) => Visibility::PublicOrMember(p.user_id.clone()),
        Caller::Device(d) if d.scopes.contains(&Scope::Read) => {
            Visibility::PublicOrMember(d.owner_id.clone())
        }
        _ => Visibility::PublicOnly,
    }
}

/// Whether the caller may change something owned by `owner` (loggers, tags, keys).
pub(crate) fn owns(caller: &Caller, owner: Option<&str>) -> bool {
    match caller {
        Caller::Person(p) => p.is_admin || owner == Some(p.user_id.as_str()),
        _ => false,
    }
}
