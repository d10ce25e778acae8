//! Queries on cells, their members and their tags.

use diesel::prelude::*;

use crate::models::{Cell, NewCell, Sensor, User};
use crate::schema::{cell_tag, cell_user, cells, sensors, users};
use crate::sql::lower;
use crate::{DbConn, DbError};

/// Which cells a listing may show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    /// Every cell (admins; ENTS compatibility mode).
    All,
    /// Public cells plus the ones this person is a member of.
    PublicOrMember(String),
    /// Only public cells (anonymous callers).
    PublicOnly,
    /// Only the cells this person is a member of (ENTS's `?user=`).
    MemberOnly(String),
}

/// Optional filters of a cell listing.
#[derive(Debug, Clone, Default)]
pub struct CellFilter {
    /// Case-insensitive substring of the name.
    pub name: Option<String>,
    /// Keep cells carrying any of these tags.
    pub tag_ids: Option<Vec<i32>>,
}

/// Cells a caller may see, filtered, ordered by id.
pub fn list(
    conn: &mut DbConn,
    visibility: &Visibility,
    filter: &CellFilter,
) -> Result<Vec<Cell>, DbError> {
    let mut query = cells::table
        .select(Cell::as_select())
        .order(cells::id.asc())
        .into_boxed();
    let members_of = |user: &str| {
        cell_user::table
            .filter(cell_user::user_id.eq(user.to_owned()))
            .select(cell_user::cell_id)
    };
    query = match visibility {
        Visibility::All => query,
        Visibility::PublicOnly => query.filter(cells::public.eq(true)),
        Visibility::PublicOrMember(user) => query.filter(
            cells::public
                .eq(true)
                .or(cells::id.eq_any(members_of(user))),
        ),
        Visibility::MemberOnly(user) => query.filter(cells::id.eq_any(members_of(user))),
    };
    if let Some(name) = &filter.name {
        let pattern = format!("%{}%", escape_like(&name.to_lowercase()));
        query = query.filter(lower(cells::name).like(pattern).escape('\\'));
    }
    if let Some(tags) = &filter.tag_ids {
        let tagged = cell_tag::table
            .filter(cell_tag::tag_id.eq_any(tags.clone()))
            .select(cell_tag::cell_id);
        query = query.filter(cells::id.eq_any(tagged));
    }
    Ok(query.load(conn)?)
}

fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Every cell, ordered by id.
pub fn list_all(conn: &mut DbConn) -> Result<Vec<Cell>, DbError> {
    list(conn, &Visibility::All, &CellFilter::default())
}

/// Ids of the public cells (the open-data export's contents), ascending.
pub fn public_ids(conn: &mut DbConn) -> Result<Vec<i32>, DbError> {
    Ok(cells::table
        .filter(cells::public.eq(true))
        .order(cells::id.asc())
        .select(cells::id)
        .load(conn)?)
}

/// The cell with this id, if any.
pub fn find(conn: &mut DbConn, id: i32) -> Result<Option<Cell>, DbError> {
    Ok(cells::table
        .select(Cell::as_select())
        .find(id)
        .first(conn)
        .optional()?)
}

/// The cell with this name, if any.
pub fn find_by_name(conn: &mut DbConn, name: &str) -> Result<Option<Cell>, DbError> {
    Ok(cells::table
        .select(Cell::as_select())
        .filter(cells::name.eq(name))
        .first(conn)
        .optional()?)
}

/// Whether `user_id` is a member of the cell.
pub fn is_member(conn: &mut DbConn, cell_id: i32, user_id: &str) -> Result<bool, DbError> {
    let n: i64 = cell_user::table
        .filter(cell_user::cell_id.eq(cell_id))
        .filter(cell_user::user_id.eq(user_id))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Inserts a cell with its creator as first member and its tags, all or nothing; returns the id.
/// An unknown tag id is a [`DbError::UnknownTag`] and leaves nothing behind.
pub fn insert(conn: &mut DbConn, cell: &NewCell<'_>) -> Result<i32, DbError> {
    insert_with(conn, cell, &[])
}

/// [`insert`] with tags.
pub fn insert_with(conn: &mut DbConn, cell: &NewCell<'_>, tag_ids: &[i32]) -> Result<i32, DbError> {
    crate::write_transaction(conn, |conn| {
        diesel::insert_into(cells::table)
            .values(cell)
            .execute(conn)?;
        let id: i32 = cells::table
            .filter(cells::name.eq(cell.name))
            .select(cells::id)
            .first(conn)?;
        if let Some(owner) = cell.user_id {
            diesel::insert_into(cell_user::table)
                .values((cell_user::cell_id.eq(id), cell_user::user_id.eq(owner)))
                .execute(conn)?;
        }
        crate::tags::require_all(conn, tag_ids)?;
        for tag in tag_ids {
            diesel::insert_into(cell_tag::table)
                .values((cell_tag::cell_id.eq(id), cell_tag::tag_id.eq(tag)))
                .execute(conn)?;
        }
        Ok(id)
    })
}

/// Changes to a cell; `None` fields stay as they are.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = cells)]
pub struct CellChanges {
    /// New name.
    pub name: Option<String>,
    /// New location.
    pub location: Option<String>,
    /// New latitude.
    pub latitude: Option<f64>,
    /// New longitude.
    pub longitude: Option<f64>,
    /// New archive flag.
    pub archive: Option<bool>,
    /// New public flag.
    pub public: Option<bool>,
}

impl CellChanges {
    fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.location.is_none()
            && self.latitude.is_none()
            && self.longitude.is_none()
            && self.archive.is_none()
            && self.public.is_none()
    }
}

/// Applies changes and, when given, replaces the tag set; all or nothing.
pub fn update(
    conn: &mut DbConn,
    id: i32,
    changes: &CellChanges,
    tag_ids: Option<&[i32]>,
) -> Result<(), DbError> {
    crate::write_transaction(conn, |conn| {
        if !changes.is_empty() {
            diesel::update(cells::table.find(id))
                .set(changes)
                .execute(conn)?;
        }
        if let Some(tags) = tag_ids {
            replace_tags_inner(conn, id, tags)?;
        }
        Ok(())
    })
}

/// Deletes a cell; its data, members and tag links go with it (cascades).
pub fn delete(conn: &mut DbConn, id: i32) -> Result<bool, DbError> {
    use crate::schema::{power_data, power_rollups, teros_data, teros_rollups};
    crate::write_transaction(conn, |conn| {
        // Measurements carry no foreign keys on Postgres (see `group_commit::hold_parents`):
        // take the cell first, so uploads holding it finish, then delete what it owns.
        if let DbConn::Postgres(pg) = conn {
            cells::table
                .find(id)
                .select(cells::id)
                .for_update()
                .load::<i32>(pg)?;
        }
        crate::rollups::lock_for_rewrite(conn)?;
        diesel::delete(power_data::table.filter(power_data::cell_id.eq(id))).execute(conn)?;
        diesel::delete(teros_data::table.filter(teros_data::cell_id.eq(id))).execute(conn)?;
        diesel::delete(power_rollups::table.filter(power_rollups::cell_id.eq(id))).execute(conn)?;
        diesel::delete(teros_rollups::table.filter(teros_rollups::cell_id.eq(id))).execute(conn)?;
        Ok(diesel::delete(cells::table.find(id)).execute(conn)? > 0)
    })
}

/// Replaces a cell's tag set (unknown tags refused, nothing changed then).
pub fn replace_tags(conn: &mut DbConn, cell_id: i32, tag_ids: &[i32]) -> Result<(), DbError> {
    crate::write_transaction(conn, |conn| replace_tags_inner(conn, cell_id, tag_ids))
}

fn replace_tags_inner(conn: &mut DbConn, cell_id: i32, tag_ids: &[i32]) -> Result<(), DbError> {
    crate::tags::require_all(conn, tag_ids)?;
    diesel::delete(cell_tag::table.filter(cell_tag::cell_id.eq(cell_id))).execute(conn)?;
    let mut seen = std::collections::BTreeSet::new();
    for tag in tag_ids.iter().filter(|t| seen.insert(**t)) {
        diesel::insert_into(cell_tag::table)
            .values((cell_tag::cell_id.eq(cell_id), cell_tag::tag_id.eq(tag)))
            .execute(conn)?;
    }
    Ok(())
}

/// Adds one tag; false when it was already there.
pub fn add_tag(conn: &mut DbConn, cell_id: i32, tag_id: i32) -> Result<bool, DbError> {
    crate::write_transaction(conn, |conn| {
        let exists: i64 = cell_tag::table
            .filter(cell_tag::cell_id.eq(cell_id))
            .filter(cell_tag::tag_id.eq(tag_id))
            .count()
            .get_result(conn)?;
        if exists > 0 {
            return Ok(false);
        }
        diesel::insert_into(cell_tag::table)
            .values((cell_tag::cell_id.eq(cell_id), cell_tag::tag_id.eq(tag_id)))
            .execute(conn)?;
        Ok(true)
    })
}

/// Removes one tag; false when it was not there.
pub fn remove_tag(conn: &mut DbConn, cell_id: i32, tag_id: i32) -> Result<bool, DbError> {
    Ok(diesel::delete(
        cell_tag::table
            .filter(cell_tag::cell_id.eq(cell_id))
            .filter(cell_tag::tag_id.eq(tag_id)),
    )
    .execute(conn)?
        > 0)
}

/// The members of a cell, by email.
pub fn members(conn: &mut DbConn, cell_id: i32) -> Result<Vec<User>, DbError> {
    Ok(cell_user::table
        .inner_join(users::table)
        .filter(cell_user::cell_id.eq(cell_id))
        .select(User::as_select())
        .order(users::email.asc())
        .load(conn)?)
}

/// Adds a member; false when already one.
pub fn add_member(conn: &mut DbConn, cell_id: i32, user_id: &str) -> Result<bool, DbError> {
    crate::write_transaction(conn, |conn| {
        if is_member(conn, cell_id, user_id)? {
            return Ok(false);
        }
        diesel::insert_into(cell_user::table)
            .values((
                cell_user::cell_id.eq(cell_id),
                cell_user::user_id.eq(user_id),
            ))
            .execute(conn)?;
        Ok(true)
    })
}

/// Removes a member; false when they were not one.
pub fn remove_member(conn: &mut DbConn, cell_id: i32, user_id: &str) -> Result<bool, DbError> {
    Ok(diesel::delete(
        cell_user::table
            .filter(cell_user::cell_id.eq(cell_id))
            .filter(cell_user::user_id.eq(user_id)),
    )
    .execute(conn)?
        > 0)
}

/// Replaces the member set; unknown user ids are refused and nothing changes.
pub fn replace_members(
    conn: &mut DbConn,
    cell_id: i32,
    user_ids: &[String],
) -> Result<Vec<User>, DbError> {
    crate::write_transaction(conn, |conn| {
        for id in user_ids {
            if crate::users::find(conn, id)?.is_none() {
                return Err(DbError::UnknownUser(id.clone()));
            }
        }
        diesel::delete(cell_user::table.filter(cell_user::cell_id.eq(cell_id))).execute(conn)?;
        let mut seen = std::collections::BTreeSet::new();
        for id in user_ids.iter().filter(|id| seen.insert(id.as_str())) {
            diesel::insert_into(cell_user::table)
                .values((cell_user::cell_id.eq(cell_id), cell_user::user_id.eq(id)))
                .execute(conn)?;
        }
        members(conn, cell_id)
    })
}

/// The sensor series of a cell, ordered by id.
pub fn sensors(conn: &mut DbConn, cell_id: i32) -> Result<Vec<Sensor>, DbError> {
    Ok(sensors::table
        .filter(sensors::cell_id.eq(cell_id))
        .select(Sensor::as_select())
        .order(sensors::id.asc())
        .load(conn)?)
}
