//! Portable SQL pieces every query module shares: the one way to run diesel code that needs the
//! concrete connection, and SQL functions that mean the same on both databases.

/// Runs the same diesel code on the concrete connection of either backend, for statements the
/// multi-connection cannot express (`ON CONFLICT`).
#[macro_export]
#[doc(hidden)]
macro_rules! on_backend {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::DbConn::Postgres($c) => $body,
            $crate::DbConn::Sqlite($c) => $body,
        }
    };
}

diesel::define_sql_function! {
    /// SQL `lower()`, the same on both databases (case-insensitive name searches).
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

diesel::define_sql_function! {
    /// SQL `lower()` of a nullable column (optional names), the same on both databases.
    #[sql_name = "lower"]
    fn lower_nullable(x: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>;
}

/// `text` with LIKE's wildcards (`%`, `_`) and the escape character made literal; use with
/// `.escape('\\')`.
pub(crate) fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}
