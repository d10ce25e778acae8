-- The ENTS data model (reference §9) with Loam's fixes: uniqueness where ENTS only looked rows up,
-- cascades instead of blocked deletes, hashed tokens. Every timestamp is UTC without a zone.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,                 -- UUID as text (portable across backends)
    email         TEXT NOT NULL UNIQUE,             -- stored lower-cased
    first_name    TEXT,
    last_name     TEXT,
    password_hash TEXT,                             -- Argon2id PHC string; NULL for OIDC-only people
    is_admin      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMP NOT NULL
);

-- Refresh tokens: only a digest is kept; a family is one login, so reuse revokes that login only.
CREATE TABLE refresh_tokens (
    id          TEXT PRIMARY KEY,                   -- the token's jti
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id   TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    expires_at  TIMESTAMP NOT NULL,
    used_at     TIMESTAMP,
    revoked_at  TIMESTAMP,
    created_at  TIMESTAMP NOT NULL
);
CREATE INDEX idx_refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX idx_refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE cells (
    id         SERIAL PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    location   TEXT,
    latitude   DOUBLE PRECISION,
    longitude  DOUBLE PRECISION,
    user_id    TEXT REFERENCES users (id) ON DELETE SET NULL,   -- the creator
    archive    BOOLEAN NOT NULL DEFAULT FALSE,
    public     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE loggers (
    id           SERIAL PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    uuid         TEXT NOT NULL UNIQUE,
    type         TEXT,
    device_eui   TEXT,
    description  TEXT,
    date_created TIMESTAMP NOT NULL,
    user_id      TEXT REFERENCES users (id) ON DELETE SET NULL  -- the owner
);

-- A retried upload (same cell, logger, time) is stored once: the unique index is the rule, and it
-- also serves (cell, time) range reads.
CREATE TABLE power_data (
    id        BIGSERIAL PRIMARY KEY,
    logger_id INTEGER REFERENCES loggers (id) ON DELETE SET NULL,
    cell_id   INTEGER NOT NULL REFERENCES cells (id) ON DELETE CASCADE,
    ts        TIMESTAMP NOT NULL,
    current   DOUBLE PRECISION,
    voltage   DOUBLE PRECISION,
    ts_server TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX uq_power_data_cell_ts_logger ON power_data (cell_id, ts, logger_id);

CREATE TABLE teros_data (
    id        BIGSERIAL PRIMARY KEY,
    cell_id   INTEGER NOT NULL REFERENCES cells (id) ON DELETE CASCADE,
    ts        TIMESTAMP NOT NULL,
    vwc       DOUBLE PRECISION,
    temp      DOUBLE PRECISION,
    ec        INTEGER,
    ts_server TIMESTAMP NOT NULL,
    raw_vwc   DOUBLE PRECISION,
    water_pot DOUBLE PRECISION
);
CREATE UNIQUE INDEX uq_teros_data_cell_ts ON teros_data (cell_id, ts);

-- One row per (cell, name, measurement) series; ENTS found-or-created these without a constraint.
CREATE TABLE sensors (
    id          SERIAL PRIMARY KEY,
    cell_id     INTEGER NOT NULL REFERENCES cells (id) ON DELETE CASCADE,
    measurement TEXT NOT NULL,
    data_type   TEXT NOT NULL,
    unit        TEXT,
    name        TEXT NOT NULL
);
CREATE UNIQUE INDEX uq_sensors_cell_name_measurement ON sensors (cell_id, name, measurement);

CREATE TABLE data (
    id        BIGSERIAL PRIMARY KEY,
    sensor_id INTEGER NOT NULL REFERENCES sensors (id) ON DELETE CASCADE,
    ts        TIMESTAMP NOT NULL,
    ts_server TIMESTAMP NOT NULL,
    float_val DOUBLE PRECISION,
    int_val   BIGINT,                                -- uint32 device values do not fit INTEGER
    text_val  TEXT
);
CREATE UNIQUE INDEX uq_data_sensor_ts ON data (sensor_id, ts);

CREATE TABLE tags (
    id          SERIAL PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT,
    created_at  TIMESTAMP NOT NULL,
    created_by  TEXT REFERENCES users (id) ON DELETE SET NULL
);

CREATE TABLE cell_tag (
    cell_id INTEGER NOT NULL REFERENCES cells (id) ON DELETE CASCADE,
    tag_id  INTEGER NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    PRIMARY KEY (cell_id, tag_id)
);
CREATE INDEX idx_cell_tag_tag ON cell_tag (tag_id);

CREATE TABLE cell_user (
    cell_id INTEGER NOT NULL REFERENCES cells (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (cell_id, user_id)
);
CREATE INDEX idx_cell_user_user ON cell_user (user_id);
