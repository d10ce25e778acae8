-- User administration (issue 18): accounts can be disabled, and administrators' changes to
-- accounts are kept in an audit trail.

-- When an administrator disabled the account; NULL while it is enabled.
ALTER TABLE users ADD COLUMN disabled_at TIMESTAMP;

-- One row per administrative action on an account. No foreign keys: the trail outlives the
-- accounts it names, and `actor_id` is `cli` for actions taken with `loam user …`.
CREATE TABLE audit_log (
    id         SERIAL PRIMARY KEY,
    at         TIMESTAMP NOT NULL,
    actor_id   TEXT NOT NULL,       -- a user id, or `cli`
    action     TEXT NOT NULL,       -- grant_admin, revoke_admin, disable, enable, set_password
    subject_id TEXT,                -- the account acted on
    detail     TEXT NOT NULL        -- a small JSON object
);
CREATE INDEX audit_log_at ON audit_log (at);
