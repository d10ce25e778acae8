-- API keys for people (ENTS's one user key, `X-API-Key`) and for devices (per-logger keys).
-- Only a SHA-256 digest of a key is stored; the plaintext is shown once, at creation.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,                       -- ULID
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,  -- the owner
    logger_id    INTEGER REFERENCES loggers (id) ON DELETE CASCADE,      -- set for device keys
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,                          -- the visible start, e.g. loam_dk_
    last4        TEXT NOT NULL,                          -- for masked display
    digest       TEXT NOT NULL UNIQUE,                   -- hex SHA-256 of the whole key
    scopes       TEXT NOT NULL,                          -- comma-separated: ingest, read, firmware, user
    expires_at   TIMESTAMP,
    last_used_at TIMESTAMP,
    revoked_at   TIMESTAMP,
    created_at   TIMESTAMP NOT NULL
);
CREATE INDEX idx_api_keys_user ON api_keys (user_id);
CREATE INDEX idx_api_keys_logger ON api_keys (logger_id);
