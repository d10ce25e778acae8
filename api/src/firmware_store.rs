//! Firmware bytes on disk, content-addressed: an image lives at `<root>/<sha256>` once it is
//! complete and synced. Uploads are written to `<root>/tmp/` first and renamed into place, so a
//! reader never sees half a file and a failed upload leaves nothing behind.

use std::path::PathBuf;

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

/// The directory of firmware images.
#[derive(Debug, Clone)]
pub struct FirmwareStore {
    root: PathBuf,
}

/// An upload being written: a temporary file, its running hash and size.
pub(crate) struct Staged {
    file: tokio::fs::File,
    path: PathBuf,
    hasher: Sha256,
    size: u64,
}

/// A complete upload, not yet in place.
#[derive(Debug, Clone)]
pub(crate) struct Finished {
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    temp: PathBuf,
}

impl FirmwareStore {
    /// A store under `root` (created on first upload).
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    /// Where the image with this digest lives. The digest is hex by construction (it comes
    /// from the database, which got it from [`Staged::finish`]), so it is a safe file name.
    pub(crate) fn path(&self, sha256: &str) -> PathBuf {
        self.root.join(sha256)
    }

    /// Starts writing an upload to a temporary file.
    pub(crate) async fn stage(&self) -> std::io::Result<Staged> {
        let dir = self.root.join("tmp");
        tokio::fs::create_dir_all(&dir).await?;
        let path = dir.join(format!("{}.part", ulid::Ulid::new()));
        let file = tokio::fs::File::create(&path).await?;
        Ok(Staged {
            file,
            path,
            hasher: Sha256::new(),
            size: 0,
        })
    }

    /// Moves a finished upload into place; returns whether this call created the file (false:
    /// the same bytes were already stored). Blocking; runs inside the metadata transaction.
    pub(crate) fn place(&self, finished: &Finished) -> std::io::Result<bool> {
        let target = self.path(&finished.sha256);
        if target.exists() {
            std::fs::remove_file(&finished.temp)?;
            return Ok(false);
        }
        std::fs::rename(&finished.temp, &target)?;
        if let Ok(dir) = std::fs::File::open(&self.root) {
            // Make the rename itself durable.
            let _ = dir.sync_all();
        }
        Ok(true)
    }

    /// Removes an image's file; called by the data layer under the digest's lock once no
    /// version uses the bytes. Blocking. A file that cannot be removed is only a stray file.
    pub(crate) fn remove(&self, sha256: &str) {
        if let Err(e) = std::fs::remove_file(self.path(sha256))
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(error = %e, sha256, "could not remove a firmware file");
        }
    }
}

impl Staged {
    /// Appends a chunk.
    pub(crate) async fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        self.hasher.update(chunk);
        self.size += chunk.len() as u64;
        self.file.write_all(chunk).await
    }

    /// Bytes written so far.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// Syncs the file and names its digest.
    pub(crate) async fn finish(mut self) -> std::io::Result<Finished> {
        self.file.flush().await?;
        self.file.sync_all().await?;
        Ok(Finished {
            sha256: hex::encode(self.hasher.finalize()),
            size: self.size,
            temp: self.path,
        })
    }

    /// Deletes the partial file (a failed or refused upload).
    pub(crate) async fn discard(self) {
        drop(self.file);
        let _ = tokio::fs::remove_file(&self.path).await;
    }
}

impl Finished {
    /// Deletes the temporary file when the upload is abandoned before it was placed.
    pub(crate) async fn discard(self) {
        let _ = tokio::fs::remove_file(&self.temp).await;
    }

    /// The temporary file's path (for tests of leftovers).
    #[cfg(test)]
    pub(crate) fn temp(&self) -> &std::path::Path {
        &self.temp
    }
}

/// A byte range of a `Range: bytes=…` request, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ByteRange {
    /// First byte.
    pub start: u64,
    /// Last byte (inclusive).
    pub end: u64,
}

/// How to answer a `Range` header for a file of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeAnswer {
    /// No (usable) range: the whole file, 200.
    Whole,
    /// One satisfiable range: 206.
    Part(ByteRange),
    /// Outside the file: 416.
    Unsatisfiable,
}

/// Reads a single `bytes=` range (RFC 9110 §14.1.2); several ranges or other units get the whole
/// file, which the RFC allows.
pub(crate) fn parse_range(header: Option<&str>, len: u64) -> RangeAnswer {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeAnswer::Whole;
    };
    if spec.contains(',') {
        return RangeAnswer::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAnswer::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let range = match (first.parse::<u64>(), last.parse::<u64>()) {
        (Ok(start), Ok(end)) if start <= end => (start < len).then(|| ByteRange {
            start,
            end: end.min(len - 1),
        }),
        (Ok(_), Ok(_)) => return RangeAnswer::Whole,
        (Ok(start), Err(_)) if last.is_empty() => (start < len).then(|| ByteRange {
            start,
            end: len - 1,
        }),
        (Err(_), Ok(suffix)) if first.is_empty() => (suffix > 0 && len > 0).then(|| ByteRange {
            start: len.saturating_sub(suffix),
            end: len - 1,
        }),
        _ => return RangeAnswer::Whole,
    };
    range.map_or(RangeAnswer::Unsatisfiable, RangeAnswer::Part)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        let part = |start, end| RangeAnswer::Part(ByteRange { start, end });
        assert_eq!(parse_range(Some("bytes=1000-1999"), 5000), part(1000, 1999));
        assert_eq!(parse_range(Some("bytes=4000-"), 5000), part(4000, 4999));
        assert_eq!(parse_range(Some("bytes=-100"), 5000), part(4900, 4999));
        assert_eq!(parse_range(Some("bytes=-9000"), 5000), part(0, 4999));
        assert_eq!(parse_range(Some("bytes=4000-9999"), 5000), part(4000, 4999));
        assert_eq!(
            parse_range(Some("bytes=5000-"), 5000),
            RangeAnswer::Unsatisfiable
        );
        assert_eq!(
            parse_range(Some("bytes=-0"), 5000),
            RangeAnswer::Unsatisfiable
        );
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 5000), RangeAnswer::Whole);
        assert_eq!(parse_range(Some("items=0-1"), 5000), RangeAnswer::Whole);
        assert_eq!(parse_range(Some("bytes=9-3"), 5000), RangeAnswer::Whole);
        assert_eq!(parse_range(Some("bytes=x-3"), 5000), RangeAnswer::Whole);
        assert_eq!(parse_range(None, 5000), RangeAnswer::Whole);
    }

    #[tokio::test]
    async fn staged_uploads_are_hashed_placed_once_and_leave_no_temp_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FirmwareStore::new(dir.path().to_path_buf());
        let mut staged = store.stage().await.expect("stage");
        staged.write(b"hello ").await.expect("write");
        staged.write(b"world").await.expect("write");
        let done = staged.finish().await.expect("finish");
        assert_eq!(done.size, 11);
        assert_eq!(
            done.sha256,
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
        let temp = done.temp().to_path_buf();
        assert!(store.place(&done).expect("placed"));
        assert!(!temp.exists());
        assert_eq!(
            std::fs::read(store.path(&done.sha256)).expect("read"),
            b"hello world"
        );
        let mut again = store.stage().await.expect("stage");
        again.write(b"hello world").await.expect("write");
        let again = again.finish().await.expect("finish");
        assert!(!store.place(&again).expect("deduplicated"));
        assert!(!again.temp().exists());
    }
}
