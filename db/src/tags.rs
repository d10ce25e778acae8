//! Queries on tags.

use diesel::prelude::*;

use crate::models::{Tag, TagWithCount};
use crate::schema::{cell_tag, tags};
use crate::sql::lower;
use crate::{DbConn, DbError};

/// Fails with [`DbError::UnknownTag`] for the first tag id that does not exist.
pub(crate) fn require_all(conn: &mut DbConn, tag_ids: &[i32]) -> Result<(), DbError> {
    for id in tag_ids {
        let n: i64 = tags::table
            .filter(tags::id.eq(id))
            .count()
            .get_result(conn)?;
        if n == 0 {
            return Err(DbError::UnknownTag(*id));
        }
    }
    Ok(())
}

fn with_counts(conn: &mut DbConn, list: Vec<Tag>) -> Result<Vec<TagWithCount>, DbError> {
    let ids: Vec<i32> = list.iter().map(|t| t.id).collect();
    let counts: Vec<(i32, i64)> = cell_tag::table
        .filter(cell_tag::tag_id.eq_any(ids))
        .group_by(cell_tag::tag_id)
        .select((cell_tag::tag_id, diesel::dsl::count_star()))
        .load(conn)?;
    let counts: std::collections::HashMap<i32, i64> = counts.into_iter().collect();
    Ok(list
        .into_iter()
        .map(|tag| {
            let cell_count = counts.get(&tag.id).copied().unwrap_or(0);
            TagWithCount { tag, cell_count }
        })
        .collect())
}

/// Tags, optionally those whose name contains `search` (case-insensitive), ordered by id.
pub fn list(conn: &mut DbConn, search: Option<&str>) -> Result<Vec<TagWithCount>, DbError> {
    let mut query = tags::table
        .select(Tag::as_select())
        .order(tags::id.asc())
        .into_boxed();
    if let Some(text) = search.filter(|s| !s.is_empty()) {
        let pattern = format!(
            "%{}%",
            text.to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        query = query.filter(lower(tags::name).like(pattern).escape('\\'));
    }
    let list = query.load(conn)?;
    with_counts(conn, list)
}

/// One tag with its count.
pub fn find(conn: &mut DbConn, id: i32) -> Result<Option<TagWithCount>, DbError> {
    let Some(tag) = tags::table
        .select(Tag::as_select())
        .find(id)
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    Ok(with_counts(conn, vec![tag])?.pop())
}

/// Creates a tag; a taken name is a unique violation.
pub fn insert(
    conn: &mut DbConn,
    name: &str,
    description: Option<&str>,
    created_by: Option<&str>,
) -> Result<TagWithCount, DbError> {
    crate::write_transaction(conn, |conn| {
        diesel::insert_into(tags::table)
            .values((
                tags::name.eq(name),
                tags::description.eq(description),
                tags::created_at.eq(crate::now()),
                tags::created_by.eq(created_by),
            ))
            .execute(conn)?;
        let id: i32 = tags::table
            .filter(tags::name.eq(name))
            .select(tags::id)
            .first(conn)?;
        find(conn, id)?.ok_or(DbError::NotFound)
    })
}

/// Changes a tag's name and/or description (`Some(None)` clears the description).
pub fn update(
    conn: &mut DbConn,
    id: i32,
    name: Option<&str>,
    description: Option<Option<&str>>,
) -> Result<TagWithCount, DbError> {
    crate::write_transaction(conn, |conn| {
        if let Some(name) = name {
            diesel::update(tags::table.find(id))
                .set(tags::name.eq(name))
                .execute(conn)?;
        }
        if let Some(description) = description {
            diesel::update(tags::table.find(id))
                .set(tags::description.eq(description))
                .execute(conn)?;
        }
        find(conn, id)?.ok_or(DbError::NotFound)
    })
}

/// Deletes a tag (its cell links go with it).
pub fn delete(conn: &mut DbConn, id: i32) -> Result<bool, DbError> {
    Ok(diesel::delete(tags::table.find(id)).execute(conn)? > 0)
}

/// The tags of a cell, ordered by id.
pub fn of_cell(conn: &mut DbConn, cell_id: i32) -> Result<Vec<TagWithCount>, DbError> {
    let list = cell_tag::table
        .inner_join(tags::table)
        .filter(cell_tag::cell_id.eq(cell_id))
        .select(Tag::as_select())
        .order(tags::id.asc())
        .load(conn)?;
    with_counts(conn, list)
}
