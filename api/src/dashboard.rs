//! A built single-page dashboard (`LOAM_DASHBOARD_DIR`, e.g. the ENTS dashboard's `build`
//! folder) served from the API's own origin, so dashboard and API run as one process with no
//! proxy and no CORS: a path naming a file in the folder gets that file, any other page path
//! gets `index.html` (the app's router reads the path). A leaf: files in, responses out.

use std::path::{Component, Path, PathBuf};

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// The content type of a dashboard file, by extension.
fn content_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
    {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "application/javascript",
        "css" => "text/css",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The file under `dir` that `path` names, if it is a plain relative path to an existing file
/// (no `..`, no absolute parts: nothing outside the folder can be reached).
fn file_for(dir: &Path, path: &str) -> Option<PathBuf> {
    let relative = Path::new(path.trim_start_matches('/'));
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return None;
    }
    let file = dir.join(relative);
    // A symbolic link inside the folder must not lead outside it.
    let (real, root) = (
        std::fs::canonicalize(&file).ok()?,
        std::fs::canonicalize(dir).ok()?,
    );
    (real.starts_with(&root) && real.is_file()).then_some(real)
}

/// Whether a path names a file (its last segment has an extension) rather than a page: a
/// missing asset is a 404, not the app's page.
fn names_a_file(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .is_some_and(|last| last.contains('.'))
}

/// The dashboard's answer for `path`: the named file, or `index.html` for a page path; `None`
/// when the folder has no `index.html` either.
pub(crate) async fn serve(dir: &Path, path: &str) -> Option<Response> {
    let (file, is_index) = match file_for(dir, path) {
        Some(file) => (file, false),
        None if names_a_file(path) => return None,
        None => (dir.join("index.html"), true),
    };
    let bytes = tokio::fs::read(&file).await.ok()?;
    let is_index = is_index || file.file_name().is_some_and(|n| n == "index.html");
    // The page itself is always fetched fresh (it names the current assets); assets may be
    // cached for a day.
    let cache = if is_index {
        "no-cache"
    } else {
        "public, max-age=86400"
    };
    Some(
        (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(content_type(&file)),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            ],
            bytes,
        )
            .into_response(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_paths_inside_the_folder_name_files() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::create_dir_all(dir.path().join("assets")).expect("mkdir");
        std::fs::write(dir.path().join("assets/app.js"), "x").expect("write");
        assert!(file_for(dir.path(), "/assets/app.js").is_some());
        assert!(file_for(dir.path(), "/assets/../assets/app.js").is_none());
        assert!(file_for(dir.path(), "/../etc/passwd").is_none());
        assert!(
            file_for(dir.path(), "/assets").is_none(),
            "a folder is not a file"
        );
        assert!(file_for(dir.path(), "/cells/5").is_none());
        #[cfg(unix)]
        {
            let outside = tempfile::tempdir().expect("dir");
            std::fs::write(outside.path().join("secret.txt"), "s").expect("write");
            std::os::unix::fs::symlink(
                outside.path().join("secret.txt"),
                dir.path().join("leak.txt"),
            )
            .expect("symlink");
            assert!(
                file_for(dir.path(), "/leak.txt").is_none(),
                "a link out of the folder"
            );
        }
        assert!(names_a_file("/static/js/missing.js") && !names_a_file("/cells/5"));
    }
}
