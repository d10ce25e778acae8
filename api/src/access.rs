//! Who may see and change what. Outside ENTS compatibility mode a person reaches only cells they
//! are a member of (plus reads of public cells; admins everything); someone else's cell answers
//! 404 exactly like a missing one, so ids leak nothing. Compatibility mode adds ENTS's open
//! reads and the dashboard's anonymous writes (reference §15.1a), nothing more.

use loam_db::Db;
use loam_db::cells::Visibility;
use loam_db::models::Cell;

use crate::caller::{Caller, Scope};
use crate::error::ApiError;

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

/// What the cell rules need, borrowed from the state: the database (the cell and the caller's
/// membership) and whether ENTS compatibility mode is on. Built by `AppState::gate`.
pub(crate) struct Gate<'a> {
    /// Where cells and memberships are looked up.
    pub db: &'a Db,
    /// `LOAM_ENTS_COMPAT`.
    pub compat: bool,
}

fn cell_not_found() -> ApiError {
    ApiError::NotFound("Cell not found".into())
}

/// What the rules say about one caller, one cell and one need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Go ahead.
    Allow,
    /// 404, exactly as for a cell that does not exist (ids leak nothing).
    NotFound,
    /// 401: an anonymous caller where credentials are required, whether the cell exists or not.
    Unauthenticated,
}

/// The cell as the rules see it: `None` when it does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CellFacts {
    /// Readable by anyone.
    pub public: bool,
    /// The caller (a person, or a device's owner) is a member.
    pub member: bool,
}

/// Every cell access decision, without the database: who the caller is, what is known of the
/// cell, what they want, and whether ENTS compatibility is on.
pub(crate) fn decide(
    caller: &Caller,
    cell: Option<CellFacts>,
    need: Need,
    compat: bool,
) -> Decision {
    let allowed = cell.is_some_and(|cell| match caller {
        Caller::Person(p) => {
            p.is_admin || cell.member || (need == Need::Read && (cell.public || compat))
        }
        Caller::Device(d) => {
            let owner_ok = d.owner_is_admin || cell.member;
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
    });
    match caller {
        _ if allowed => Decision::Allow,
        Caller::Anonymous if !(compat && need != Need::Write) => Decision::Unauthenticated,
        _ => Decision::NotFound,
    }
}

/// The cell, if the caller may do `need` with it; otherwise 404 (or 401 for anonymous callers
/// outside compatibility mode, whatever the cell's existence). See [`decide`].
pub(crate) async fn cell(
    gate: &Gate<'_>,
    caller: &Caller,
    id: u32,
    need: Need,
) -> Result<Cell, ApiError> {
    let compat = gate.compat;
    let id = i32::try_from(id).map_err(|_| cell_not_found())?;
    let member_of = match caller {
        Caller::Person(p) if !p.is_admin => Some(p.user_id.clone()),
        Caller::Device(d) if !d.owner_is_admin => Some(d.owner_id.clone()),
        _ => None,
    };
    let (cell, member) = gate
        .db
        .run(move |c| {
            let cell = loam_db::cells::find(c, id)?;
            let member = match (&cell, &member_of) {
                (Some(_), Some(user)) => loam_db::cells::is_member(c, id, user)?,
                _ => false,
            };
            Ok((cell, member))
        })
        .await?;
    let facts = cell.as_ref().map(|cell| CellFacts {
        public: cell.public,
        member,
    });
    match (decide(caller, facts, need, compat), cell) {
        (Decision::Allow, Some(cell)) => Ok(cell),
        (Decision::Unauthenticated, _) => {
            Err(ApiError::Unauthorized("authentication required".into()))
        }
        _ => Err(cell_not_found()),
    }
}

/// Whether a logger's own device key counts as reaching it (enrolment, firmware checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OwnKey {
    /// Only its owner (and admins).
    No,
    /// Its owner, admins, or the logger's own device key.
    Yes,
}

/// The logger, if the caller owns it ([`owns`]; admins any) or, with [`OwnKey::Yes`], is that
/// logger's own device key; otherwise 404, exactly as for one that does not exist.
pub(crate) async fn logger(
    gate: &Gate<'_>,
    caller: &Caller,
    id: u32,
    own_key: OwnKey,
) -> Result<loam_db::models::Logger, ApiError> {
    let not_found = || ApiError::NotFound("Logger not found".into());
    let id = i32::try_from(id).map_err(|_| not_found())?;
    let logger = gate.db.run(move |c| loam_db::loggers::find(c, id)).await?;
    let allowed = |l: &loam_db::models::Logger| match caller {
        Caller::Device(d) if own_key == OwnKey::Yes => d.logger_id == l.id,
        other => owns(other, l.user_id.as_deref()),
    };
    match logger {
        Some(l) if allowed(&l) => Ok(l),
        _ => Err(not_found()),
    }
}

/// Which cells a listing shows this caller.
pub(crate) fn visibility(gate: &Gate<'_>, caller: &Caller) -> Visibility {
    listing(caller, gate.compat)
}

/// The listing rule, without the database: exactly the cells [`decide`] lets this caller read
/// (a test checks the two agree for every caller, cell and mode).
fn listing(caller: &Caller, compat: bool) -> Visibility {
    if compat {
        return Visibility::All;
    }
    match caller {
        Caller::Person(p) if p.is_admin => Visibility::All,
        Caller::Person(p) => Visibility::PublicOrMember(p.user_id.clone()),
        Caller::Device(d) if d.scopes.contains(&Scope::Read) && d.owner_is_admin => Visibility::All,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caller::{Device, Person};

    /// The callers the rules tell apart.
    fn callers() -> [(&'static str, Caller); 9] {
        let person = |is_admin| {
            Caller::Person(Person {
                user_id: "u".into(),
                is_admin,
                via_key: false,
                scopes: Vec::new(),
            })
        };
        let device = |scopes: &[Scope], owner_is_admin| {
            Caller::Device(Device {
                key_id: "k".into(),
                logger_id: 1,
                owner_id: "u".into(),
                owner_is_admin,
                scopes: scopes.to_vec(),
            })
        };
        [
            ("anonymous", Caller::Anonymous),
            ("person", person(false)),
            ("admin", person(true)),
            ("device read", device(&[Scope::Read], false)),
            ("device ingest", device(&[Scope::Ingest], false)),
            ("device both", device(&[Scope::Read, Scope::Ingest], false)),
            ("admin's device", device(&[Scope::Ingest], true)),
            ("admin's read device", device(&[Scope::Read], true)),
            ("firmware device", device(&[Scope::Firmware], false)),
        ]
    }

    /// The cells: missing, private (not a member), shared with the caller (a member), public.
    const CELLS: [Option<CellFacts>; 4] = [
        None,
        Some(CellFacts {
            public: false,
            member: false,
        }),
        Some(CellFacts {
            public: false,
            member: true,
        }),
        Some(CellFacts {
            public: true,
            member: false,
        }),
    ];

    const NEEDS: [Need; 3] = [Need::Read, Need::Write, Need::DashboardWrite];

    /// Every decision, one line per caller and mode: for each cell (missing, private, shared,
    /// public) the answers to read, write, dashboard write. A allow, N 404, U 401.
    const TABLE: [(&str, bool, &str); 18] = [
        // (caller, compat, "missing private shared public")
        ("anonymous", false, "UUU      UUU      UUU      AUU"),
        ("anonymous", true, "NUN      AUA      AUA      AUA"),
        ("person", false, "NNN      NNN      AAA      ANN"),
        ("person", true, "NNN      ANN      AAA      ANN"),
        ("admin", false, "NNN      AAA      AAA      AAA"),
        ("admin", true, "NNN      AAA      AAA      AAA"),
        ("device read", false, "NNN      NNN      ANN      ANN"),
        ("device read", true, "NNN      ANN      ANN      ANN"),
        ("device ingest", false, "NNN      NNN      NAA      ANN"),
        ("device ingest", true, "NNN      ANN      AAA      ANN"),
        ("device both", false, "NNN      NNN      AAA      ANN"),
        ("device both", true, "NNN      ANN      AAA      ANN"),
        ("admin's device", false, "NNN      NAA      NAA      AAA"),
        ("admin's device", true, "NNN      AAA      AAA      AAA"),
        (
            "admin's read device",
            false,
            "NNN      ANN      ANN      ANN",
        ),
        (
            "admin's read device",
            true,
            "NNN      ANN      ANN      ANN",
        ),
        ("firmware device", false, "NNN      NNN      NNN      ANN"),
        ("firmware device", true, "NNN      ANN      ANN      ANN"),
    ];

    #[test]
    fn every_caller_cell_need_and_mode_is_decided_as_the_table_says() {
        let mut checked = 0;
        for (name, compat, row) in TABLE {
            let caller = callers()
                .into_iter()
                .find(|(n, _)| *n == name)
                .map(|(_, c)| c)
                .expect("caller in the table");
            let want: Vec<char> = row.chars().filter(|c| !c.is_whitespace()).collect();
            assert_eq!(want.len(), CELLS.len() * NEEDS.len(), "{name}");
            for (i, cell) in CELLS.iter().enumerate() {
                for (j, need) in NEEDS.iter().enumerate() {
                    let got = match decide(&caller, *cell, *need, compat) {
                        Decision::Allow => 'A',
                        Decision::NotFound => 'N',
                        Decision::Unauthenticated => 'U',
                    };
                    let expected = want[i * NEEDS.len() + j];
                    assert_eq!(
                        got, expected,
                        "{name}, compat {compat}, cell {cell:?}, {need:?}"
                    );
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, callers().len() * 2 * CELLS.len() * NEEDS.len());
    }

    #[test]
    fn listings_show_exactly_the_cells_the_caller_may_read() {
        let listed = |v: &Visibility, cell: CellFacts| match v {
            Visibility::All => true,
            Visibility::PublicOnly => cell.public,
            Visibility::PublicOrMember(_) => cell.public || cell.member,
            Visibility::MemberOnly(_) => cell.member,
        };
        for (name, caller) in callers() {
            for compat in [false, true] {
                let visibility = listing(&caller, compat);
                for cell in CELLS.iter().flatten() {
                    let readable =
                        decide(&caller, Some(*cell), Need::Read, compat) == Decision::Allow;
                    assert_eq!(
                        listed(&visibility, *cell),
                        readable,
                        "{name}, compat {compat}, {cell:?}"
                    );
                }
            }
        }
    }
}
