//! `loam backup` and `loam restore`: everything a deployment needs to come back — the database
//! (a consistent SQLite copy taken while uploads continue, or `pg_dump`'s custom format), the
//! data directory's own files (firmware images, the receipt-signing key, the generated JWT
//! secret) and the artifacts (exports, staged imports) — with a manifest of SHA-256 digests that
//! `restore` checks before it writes anything.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail, ensure};
use loam_config::{Config, DatabaseTarget, SQLITE_FILE};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The manifest's file name inside a backup.
const MANIFEST: &str = "loam-backup.json";
/// The database copy inside a backup, per backend.
const SQLITE_COPY: &str = "database.sqlite";
const POSTGRES_COPY: &str = "database.pgdump";
/// Where the data directory's files and the artifacts go inside a backup.
const DATA: &str = "data";
const ARTIFACTS: &str = "artifacts";

/// `loam backup`.
#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// A new (or empty) folder to write the backup into.
    #[arg(long)]
    pub out: PathBuf,
    /// Leave the artifacts (exports, staged imports) out: they can be made again.
    #[arg(long)]
    pub no_artifacts: bool,
}

/// `loam restore`.
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// A folder written by `loam backup`.
    #[arg(long)]
    pub from: PathBuf,
}

/// What a backup holds, written last (a folder without it is an unfinished backup).
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    /// The Loam version that wrote it.
    version: String,
    /// When the database copy was taken (RFC 3339).
    created_at: String,
    /// `sqlite` or `postgres`.
    backend: String,
    /// Every file with its size and SHA-256, relative to the backup folder.
    files: Vec<FileEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct FileEntry {
    path: String,
    bytes: u64,
    sha256: String,
}

/// Files of the data directory that are not copied as files: the live SQLite database (copied
/// consistently instead), its journal, and scratch space.
fn skipped_in_data_dir(name: &str) -> bool {
    name == SQLITE_FILE
        || name.starts_with(&format!("{SQLITE_FILE}-"))
        || name == "tmp"
        || name == ARTIFACTS
}

/// Writes a backup of the configured deployment into `args.out`.
pub async fn backup(config: &Config, args: BackupArgs) -> anyhow::Result<()> {
    let out = &args.out;
    if out.exists() {
        let mut entries =
            std::fs::read_dir(out).with_context(|| format!("cannot read {}", out.display()))?;
        ensure!(
            entries.next().is_none(),
            "{} is not empty: back up into a new folder",
            out.display()
        );
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let created_at = chrono::Utc::now().to_rfc3339();
    // The database first: files copied afterwards are a superset of what it references.
    let backend = match config.database()? {
        DatabaseTarget::Sqlite(_) => {
            let db = loam_db::open_for_command(config).await?;
            let target = out.join(SQLITE_COPY);
            db.run(move |c| loam_db::backup::sqlite_snapshot(c, &target))
                .await
                .context("the SQLite copy failed")?;
            "sqlite"
        }
        DatabaseTarget::Postgres(url) => {
            pg_tool(
                "pg_dump",
                &[
                    "--format=custom",
                    "--no-owner",
                    "--file",
                    &out.join(POSTGRES_COPY).to_string_lossy(),
                    &url,
                ],
            )?;
            "postgres"
        }
    };
    copy_tree(&config.data_dir, &out.join(DATA), &skipped_in_data_dir)?;
    if !args.no_artifacts {
        copy_tree(&config.artifacts(), &out.join(ARTIFACTS), &|_| false)?;
    }
    let files = digest_tree(out)?;
    let bytes: u64 = files.iter().map(|f| f.bytes).sum();
    let manifest = Manifest {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at,
        backend: backend.to_owned(),
        files,
    };
    std::fs::write(out.join(MANIFEST), serde_json::to_vec_pretty(&manifest)?)
        .context("cannot write the manifest")?;
    println!(
        "backup of the {backend} database, data directory{} written to {} ({} files, {} bytes)",
        if args.no_artifacts {
            ""
        } else {
            " and artifacts"
        },
        out.display(),
        manifest.files.len(),
        bytes
    );
    Ok(())
}

/// Restores a backup into the configured (empty) deployment.
pub async fn restore(config: &Config, args: RestoreArgs) -> anyhow::Result<()> {
    let from = &args.from;
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(from.join(MANIFEST)).with_context(|| {
            format!(
                "{} has no {MANIFEST}: not a finished backup",
                from.display()
            )
        })?)
        .context("the manifest is not readable")?;
    // Only plain relative paths inside the backup, and every byte checked, before anything is
    // written.
    for entry in &manifest.files {
        ensure!(
            Path::new(&entry.path)
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_))),
            "the manifest names {:?}, outside the backup: refusing it",
            entry.path
        );
        let path = from.join(&entry.path);
        let (bytes, sha256) = digest(&path)?;
        ensure!(
            bytes == entry.bytes && sha256 == entry.sha256,
            "{} does not match the manifest (damaged or changed backup)",
            path.display()
        );
    }
    // A restore only fills an empty place: nothing already there is overwritten.
    for dir in [&config.data_dir, &config.artifacts()] {
        if let Ok(mut entries) = std::fs::read_dir(dir) {
            ensure!(
                entries.next().is_none(),
                "{} is not empty: restore into a fresh LOAM_DATA_DIR (and LOAM_ARTIFACTS_DIR)",
                dir.display()
            );
        }
    }
    match (config.database()?, manifest.backend.as_str()) {
        (DatabaseTarget::Sqlite(path), "sqlite") => {
            ensure!(
                !path.exists(),
                "{} exists: restore into a fresh data directory (or move it away first)",
                path.display()
            );
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::copy(from.join(SQLITE_COPY), &path)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        (DatabaseTarget::Postgres(url), "postgres") => {
            let db = loam_db::Db::connect_postgres(&url, 1)?;
            ensure!(
                !db.run(loam_db::backup::holds_loam_tables).await?,
                "the database at {} already holds Loam's tables: restore into an empty database",
                loam_config::redact_url(&url)
            );
            pg_tool(
                "pg_restore",
                &[
                    "--no-owner",
                    "--exit-on-error",
                    "--dbname",
                    &url,
                    &from.join(POSTGRES_COPY).to_string_lossy(),
                ],
            )?;
        }
        (_, backend) => bail!(
            "this backup holds a {backend} database, but the configuration selects another \
             backend (set DATABASE_URL accordingly)"
        ),
    }
    // Exactly the files the manifest lists (and checked), nothing else that lies in the folder.
    for entry in &manifest.files {
        let relative = Path::new(&entry.path);
        let target = if let Ok(rest) = relative.strip_prefix(DATA) {
            config.data_dir.join(rest)
        } else if let Ok(rest) = relative.strip_prefix(ARTIFACTS) {
            config.artifacts().join(rest)
        } else {
            continue;
        };
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::copy(from.join(relative), &target)
            .with_context(|| format!("cannot write {}", target.display()))?;
    }
    println!(
        "restored the {} backup of {} into {} ({} files checked)",
        manifest.backend,
        manifest.created_at,
        config.data_dir.display(),
        manifest.files.len()
    );
    Ok(())
}

/// Runs a PostgreSQL client tool, naming it when it is missing or fails.
fn pg_tool(tool: &str, args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new(tool).args(args).output().with_context(|| {
        format!(
            "cannot run {tool}: install the PostgreSQL client tools (Debian: postgresql-client)"
        )
    })?;
    if !output.status.success() {
        bail!(
            "{tool} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// Copies the files under `from` into `to` (created as needed); a missing `from` copies nothing.
fn copy_tree(from: &Path, to: &Path, skip: &dyn Fn(&str) -> bool) -> anyhow::Result<()> {
    let entries = match std::fs::read_dir(from) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", from.display())),
    };
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if skip(&name) {
            continue;
        }
        let kind = entry.file_type()?;
        let target = to.join(&name);
        if kind.is_dir() {
            copy_tree(&entry.path(), &target, &|_| false)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target).with_context(|| {
                format!(
                    "cannot copy {} to {}",
                    entry.path().display(),
                    target.display()
                )
            })?;
        }
    }
    Ok(())
}

/// Every file under `root` with its size and digest, paths relative to `root`.
fn digest_tree(root: &Path) -> anyhow::Result<Vec<FileEntry>> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                pending.push(path);
                continue;
            }
            let relative = path
                .strip_prefix(root)
                .context("a file outside the backup")?
                .to_string_lossy()
                .into_owned();
            if relative == MANIFEST {
                continue;
            }
            let (bytes, sha256) = digest(&path)?;
            files.push(FileEntry {
                path: relative,
                bytes,
                sha256,
            });
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

fn digest(path: &Path) -> anyhow::Result<(u64, String)> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or_default());
        bytes += n as u64;
    }
    Ok((bytes, hex::encode(hasher.finalize())))
}
