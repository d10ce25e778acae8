-- Field operations (issue 17): every accepted upload of a logger leaves one line in an
-- append-only log (nobody updates it, so concurrent uploads never wait for each other), from
-- which device health is derived; alert rules, the events they raise and their webhook
-- deliveries with one record per attempt.

-- One row per accepted upload attributed to a logger. Upkeep trims it (the newest rows of every
-- logger are always kept, so a long-silent logger still has its last upload).
CREATE TABLE logger_uploads (
    id        BIGSERIAL PRIMARY KEY,
    logger_id INTEGER NOT NULL,     -- no foreign key: written in the upload's commit like the rows
    cell_id   INTEGER,              -- the upload's first cell
    at        TIMESTAMP NOT NULL,   -- server commit time
    row_count INTEGER NOT NULL,     -- rows in the upload (a retry counts its rows again)
    voltage   DOUBLE PRECISION,           -- the upload's latest power voltage, a battery proxy
    firmware  TEXT                  -- the version the device reported (Loam-Firmware header)
);
-- Covering: a fleet's newest lines and recent counts are read from the index alone (the table
-- is insert-only, so autovacuum keeps its pages all-visible).
CREATE INDEX logger_uploads_logger_at ON logger_uploads (logger_id, at, id)
    INCLUDE (cell_id, row_count, voltage, firmware);
CREATE INDEX logger_uploads_at ON logger_uploads (at);

-- The log's whole past hours counted per logger, folded by upkeep once an hour is over, so the
-- last 24 hours of a fleet add up ~24 rows per logger plus the raw lines of two partial hours.
CREATE TABLE logger_upload_hours (
    logger_id INTEGER NOT NULL,
    hour      BIGINT NOT NULL,          -- Unix time / 3600
    uploads   BIGINT NOT NULL,
    row_count BIGINT NOT NULL,
    PRIMARY KEY (logger_id, hour)
);
CREATE INDEX logger_upload_hours_hour ON logger_upload_hours (hour);

-- A person's rule: `silence` (a logger quiet for N minutes or K times its usual interval) or
-- `threshold` (a cell's series above/below a bound for M minutes).
CREATE TABLE alert_rules (
    id               SERIAL PRIMARY KEY,
    owner_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    cell_id          INTEGER REFERENCES cells (id) ON DELETE CASCADE,
    logger_id        INTEGER REFERENCES loggers (id) ON DELETE CASCADE,
    condition        TEXT NOT NULL,   -- JSON: {"kind":"silence","minutes":..,"factor":..} or
                                      -- {"kind":"threshold","series":..,"side":..,"bound":..,"for_minutes":..}
    repeat_minutes   INTEGER,         -- while firing, notify again this often (NULL: once)
    notify_recovery  BOOLEAN NOT NULL,
    webhook_url      TEXT,
    secret           TEXT NOT NULL,   -- signs webhook bodies (HMAC-SHA256)
    enabled          BOOLEAN NOT NULL,
    firing_since     TIMESTAMP,       -- NULL while the rule is not firing
    last_notified_at TIMESTAMP,
    evaluated_period BIGINT NOT NULL, -- the last evaluation period claimed (exactly once each)
    created_at       TIMESTAMP NOT NULL
);
CREATE INDEX alert_rules_owner ON alert_rules (owner_id);

-- What rules raised: firing, repeat (still firing) and resolved.
CREATE TABLE alert_events (
    id        BIGSERIAL PRIMARY KEY,
    rule_id   INTEGER NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    kind      TEXT NOT NULL,
    at        TIMESTAMP NOT NULL,
    cell_id   INTEGER,
    logger_id INTEGER,
    message   TEXT NOT NULL,
    value     DOUBLE PRECISION
);
CREATE INDEX alert_events_rule ON alert_events (rule_id, id);

-- One webhook delivery per event of a rule with a webhook, retried with backoff until it is
-- delivered or out of attempts; `claimed_until` keeps two workers from sending it at once.
CREATE TABLE alert_deliveries (
    id              BIGSERIAL PRIMARY KEY,
    event_id        BIGINT NOT NULL REFERENCES alert_events (id) ON DELETE CASCADE,
    rule_id         INTEGER NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    url             TEXT NOT NULL,
    state           TEXT NOT NULL,    -- pending | delivered | failed
    attempts        INTEGER NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    claimed_until   TIMESTAMP
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (state, next_attempt_at);

-- Every attempt at a delivery with what came back.
CREATE TABLE alert_attempts (
    id          BIGSERIAL PRIMARY KEY,
    delivery_id BIGINT NOT NULL REFERENCES alert_deliveries (id) ON DELETE CASCADE,
    rule_id     INTEGER NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    at          TIMESTAMP NOT NULL,
    status      INTEGER,              -- the receiver's HTTP status; NULL when none came
    error       TEXT,
    duration_ms INTEGER NOT NULL
);
CREATE INDEX alert_attempts_rule ON alert_attempts (rule_id, id);
