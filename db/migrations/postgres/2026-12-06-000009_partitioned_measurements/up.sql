-- Measurement tables become partitioned by device time, one partition per calendar month (UTC).
-- Why: at hundreds of millions of rows the (cell, time) unique indexes outgrow memory and every
-- upload's index insert starts reading from disk; per month, the partitions that take uploads
-- stay small and hot, range reads skip whole months, and retention (LOAM_RAW_RETENTION_DAYS)
-- drops a month as one catalog change instead of deleting its rows one by one.
--
-- Partitions are made by `loam_ensure_partitions` (below): ahead of time by the API's upkeep
-- (this month and the next two), and on demand when a write names a month that has none yet
-- (late data, imports of old files, a device whose clock is wrong): the write fails with "no
-- partition", the writer makes the months its rows need in a short transaction of its own and
-- writes again (db/src/partitions.rs). There is no default partition: a row outside every month
-- would sit there and block the month's partition from ever being made.
--
-- `id` stays sequence-numbered (the tie-break of reads at equal times) but is no longer a key:
-- a key on a partitioned table must contain the partition column, and nothing looks rows up by id.

CREATE FUNCTION loam_ensure_partitions(months timestamp[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    month timestamp;
    parent text;
    name text;
    made integer := 0;
BEGIN
    -- One maker at a time (replicas, concurrent writers): the second waits, then finds them made.
    PERFORM pg_advisory_xact_lock(7307001);
    -- Tables are locked in the order uploads take them (new sensor series, then power, TEROS
    -- and generic rows; see db/src/group_commit.rs), so a maker and an upload never wait for
    -- each other in a circle. `sensors` first: a `data` partition's foreign key locks it.
    LOCK TABLE sensors IN SHARE ROW EXCLUSIVE MODE;
    FOREACH month IN ARRAY months LOOP
        month := date_trunc('month', month);
        FOREACH parent IN ARRAY ARRAY['power_data', 'teros_data', 'data'] LOOP
            name := parent || '_' || to_char(month, 'YYYY_MM')
                    || CASE WHEN month < timestamp '0001-01-01' THEN '_bc' ELSE '' END;
            IF to_regclass(quote_ident(name)) IS NULL THEN
                EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                               name, parent, month, month + interval '1 month');
                made := made + 1;
            END IF;
        END LOOP;
    END LOOP;
    RETURN made;
END $$;

-- Retention (db/src/retention.rs) drops every partition whose month ends at or before the
-- horizon; a partition it cannot lock within two seconds (a long read) waits for the next sweep.
CREATE FUNCTION loam_drop_partitions_before(horizon timestamp) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    part record;
    dropped integer := 0;
BEGIN
    SET LOCAL lock_timeout = '2s';
    FOR part IN
        SELECT c.oid::regclass AS rel,
               substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''([^'']+)''\)')::timestamp
                   AS upper_bound
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent IN ('power_data'::regclass, 'teros_data'::regclass, 'data'::regclass)
    LOOP
        IF part.upper_bound <= horizon THEN
            EXECUTE format('DROP TABLE %s', part.rel);
            dropped := dropped + 1;
        END IF;
    END LOOP;
    RETURN dropped;
END $$;

-- The old tables move aside; their sequences stay (ids keep counting up).
ALTER TABLE power_data RENAME TO power_data_old;
ALTER TABLE teros_data RENAME TO teros_data_old;
ALTER TABLE data RENAME TO data_old;
ALTER SEQUENCE power_data_id_seq OWNED BY NONE;
ALTER SEQUENCE teros_data_id_seq OWNED BY NONE;
ALTER SEQUENCE data_id_seq OWNED BY NONE;
DROP INDEX uq_power_data_cell_ts_logger;
DROP INDEX uq_teros_data_cell_ts;
DROP INDEX uq_data_sensor_ts;

CREATE TABLE power_data (
    id        BIGINT NOT NULL DEFAULT nextval('power_data_id_seq'),
    logger_id INTEGER,
    cell_id   INTEGER NOT NULL,
    ts        TIMESTAMP NOT NULL,
    current   DOUBLE PRECISION,
    voltage   DOUBLE PRECISION,
    ts_server TIMESTAMP NOT NULL
) PARTITION BY RANGE (ts);
CREATE UNIQUE INDEX uq_power_data_cell_ts_logger ON power_data (cell_id, ts, logger_id);

CREATE TABLE teros_data (
    id        BIGINT NOT NULL DEFAULT nextval('teros_data_id_seq'),
    cell_id   INTEGER NOT NULL,
    ts        TIMESTAMP NOT NULL,
    vwc       DOUBLE PRECISION,
    temp      DOUBLE PRECISION,
    ec        INTEGER,
    ts_server TIMESTAMP NOT NULL,
    raw_vwc   DOUBLE PRECISION,
    water_pot DOUBLE PRECISION
) PARTITION BY RANGE (ts);
CREATE UNIQUE INDEX uq_teros_data_cell_ts ON teros_data (cell_id, ts);

CREATE TABLE data (
    id        BIGINT NOT NULL DEFAULT nextval('data_id_seq'),
    sensor_id INTEGER NOT NULL REFERENCES sensors (id) ON DELETE CASCADE,
    ts        TIMESTAMP NOT NULL,
    ts_server TIMESTAMP NOT NULL,
    float_val DOUBLE PRECISION,
    int_val   BIGINT,
    text_val  TEXT
) PARTITION BY RANGE (ts);
CREATE UNIQUE INDEX uq_data_sensor_ts ON data (sensor_id, ts);

ALTER SEQUENCE power_data_id_seq OWNED BY power_data.id;
ALTER SEQUENCE teros_data_id_seq OWNED BY teros_data.id;
ALTER SEQUENCE data_id_seq OWNED BY data.id;

SELECT loam_ensure_partitions(ARRAY(
    SELECT DISTINCT date_trunc('month', ts) FROM power_data_old
    UNION SELECT date_trunc('month', ts) FROM teros_data_old
    UNION SELECT date_trunc('month', ts) FROM data_old
    UNION SELECT date_trunc('month', now() AT TIME ZONE 'UTC') + n * interval '1 month'
          FROM generate_series(0, 2) AS n
));

INSERT INTO power_data (id, logger_id, cell_id, ts, current, voltage, ts_server)
SELECT id, logger_id, cell_id, ts, current, voltage, ts_server FROM power_data_old;
INSERT INTO teros_data (id, cell_id, ts, vwc, temp, ec, ts_server, raw_vwc, water_pot)
SELECT id, cell_id, ts, vwc, temp, ec, ts_server, raw_vwc, water_pot FROM teros_data_old;
INSERT INTO data (id, sensor_id, ts, ts_server, float_val, int_val, text_val)
SELECT id, sensor_id, ts, ts_server, float_val, int_val, text_val FROM data_old;

DROP TABLE power_data_old;
DROP TABLE teros_data_old;
DROP TABLE data_old;
