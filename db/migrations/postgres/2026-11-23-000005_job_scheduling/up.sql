-- A retry waits until run_after. A job's file is recorded apart (one row per job at most), so the
-- cleanup job can find expired files by time.
ALTER TABLE jobs ADD COLUMN run_after TIMESTAMP;
CREATE TABLE job_artifacts (
    job_id     TEXT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,                -- file name inside the artifacts directory
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX idx_job_artifacts_expiry ON job_artifacts (expires_at);
CREATE INDEX idx_jobs_kind_payload ON jobs (kind, state);
