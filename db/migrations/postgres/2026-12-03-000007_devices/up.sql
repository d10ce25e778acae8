-- Devices that can trust the platform (issue 7): enrolled device keys with upload quotas, the
-- receipts given for uploads that carried a Loam-Locator, and the firmware registry.

-- One row per enrolled logger: its Ed25519 public key and what is left of its quota.
CREATE TABLE device_enrolments (
    logger_id       INTEGER PRIMARY KEY REFERENCES loggers (id) ON DELETE CASCADE,
    public_key      TEXT NOT NULL,          -- hex, 32 bytes
    available_slots BIGINT NOT NULL,        -- one per started 4 KiB of upload body
    quota_expiry    TIMESTAMP NOT NULL,     -- uploads past it are refused until the next enrolment
    enrolled_at     TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);

-- The outcome of each upload sent with a locator, so a retry gets the same receipt back.
CREATE TABLE upload_receipts (
    logger_id    INTEGER NOT NULL REFERENCES loggers (id) ON DELETE CASCADE,
    locator      TEXT NOT NULL,             -- hex, 16 bytes, chosen by the device
    body_sha256  TEXT NOT NULL,             -- hex; the same locator with another body is a conflict
    row_count    INTEGER NOT NULL,
    committed_at TIMESTAMP NOT NULL,
    receipt      TEXT NOT NULL,             -- the signed Loam-Receipt header value
    PRIMARY KEY (logger_id, locator)
);

-- Firmware images; the bytes live content-addressed (by sha256) in the data directory.
CREATE TABLE firmware (
    id         SERIAL PRIMARY KEY,
    name       TEXT NOT NULL,
    version    TEXT NOT NULL,
    notes      TEXT,
    sha256     TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    user_id    TEXT REFERENCES users (id) ON DELETE SET NULL,  -- who published it
    created_at TIMESTAMP NOT NULL,
    CONSTRAINT firmware_name_version_key UNIQUE (name, version)
);
CREATE INDEX idx_firmware_sha256 ON firmware (sha256);

-- The firmware each logger should run.
CREATE TABLE logger_firmware (
    logger_id   INTEGER PRIMARY KEY REFERENCES loggers (id) ON DELETE CASCADE,
    firmware_id INTEGER NOT NULL REFERENCES firmware (id) ON DELETE CASCADE,
    updated_at  TIMESTAMP NOT NULL
);
CREATE INDEX idx_logger_firmware_firmware ON logger_firmware (firmware_id);
