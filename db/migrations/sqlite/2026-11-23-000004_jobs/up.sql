-- Durable records of long-running work (exports, imports, open data, upstream sync): what was
-- asked, by whom, how far it got, and what came out. The queue only carries the job id.
CREATE TABLE jobs (
    id             TEXT PRIMARY KEY,                 -- ULID, returned before any worker sees it
    kind           TEXT NOT NULL,
    owner_id       TEXT REFERENCES users (id) ON DELETE CASCADE,
    state          TEXT NOT NULL,                    -- queued, running, succeeded, failed, cancelled
    payload        TEXT NOT NULL,                    -- JSON arguments
    progress_done  BIGINT NOT NULL DEFAULT 0,
    progress_total BIGINT NOT NULL DEFAULT 0,
    attempts       INTEGER NOT NULL DEFAULT 0,
    error          TEXT,
    result         TEXT,                             -- JSON, e.g. a download link
    request_id     TEXT,                             -- the HTTP request that created it
    created_at     TIMESTAMP NOT NULL,
    updated_at     TIMESTAMP NOT NULL,
    started_at     TIMESTAMP,
    finished_at    TIMESTAMP
);
CREATE INDEX idx_jobs_owner ON jobs (owner_id, created_at);
CREATE INDEX idx_jobs_state ON jobs (state, created_at);

-- Months an administrator approved for the "clean" open-data export.
CREATE TABLE opendata_approvals (
    year        INTEGER NOT NULL,
    month       INTEGER NOT NULL,
    approved_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    approved_at TIMESTAMP NOT NULL,
    PRIMARY KEY (year, month)
);
