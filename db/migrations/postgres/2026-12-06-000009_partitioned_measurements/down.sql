-- Back to one table each (the rows are copied; ids kept).
ALTER TABLE power_data RENAME TO power_data_parted;
ALTER TABLE teros_data RENAME TO teros_data_parted;
ALTER TABLE data RENAME TO data_parted;
ALTER SEQUENCE power_data_id_seq OWNED BY NONE;
ALTER SEQUENCE teros_data_id_seq OWNED BY NONE;
ALTER SEQUENCE data_id_seq OWNED BY NONE;
DROP INDEX uq_power_data_cell_ts_logger;
DROP INDEX uq_teros_data_cell_ts;
DROP INDEX uq_data_sensor_ts;

CREATE TABLE power_data (
    id        BIGINT PRIMARY KEY DEFAULT nextval('power_data_id_seq'),
    logger_id INTEGER,
    cell_id   INTEGER NOT NULL,
    ts        TIMESTAMP NOT NULL,
    current   DOUBLE PRECISION,
    voltage   DOUBLE PRECISION,
    ts_server TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX uq_power_data_cell_ts_logger ON power_data (cell_id, ts, logger_id);
CREATE TABLE teros_data (
    id        BIGINT PRIMARY KEY DEFAULT nextval('teros_data_id_seq'),
    cell_id   INTEGER NOT NULL,
    ts        TIMESTAMP NOT NULL,
    vwc       DOUBLE PRECISION,
    temp      DOUBLE PRECISION,
    ec        INTEGER,
    ts_server TIMESTAMP NOT NULL,
    raw_vwc   DOUBLE PRECISION,
    water_pot DOUBLE PRECISION
);
CREATE UNIQUE INDEX uq_teros_data_cell_ts ON teros_data (cell_id, ts);
CREATE TABLE data (
    id        BIGINT PRIMARY KEY DEFAULT nextval('data_id_seq'),
    sensor_id INTEGER NOT NULL REFERENCES sensors (id) ON DELETE CASCADE,
    ts        TIMESTAMP NOT NULL,
    ts_server TIMESTAMP NOT NULL,
    float_val DOUBLE PRECISION,
    int_val   BIGINT,
    text_val  TEXT
);
CREATE UNIQUE INDEX uq_data_sensor_ts ON data (sensor_id, ts);
ALTER SEQUENCE power_data_id_seq OWNED BY power_data.id;
ALTER SEQUENCE teros_data_id_seq OWNED BY teros_data.id;
ALTER SEQUENCE data_id_seq OWNED BY data.id;

INSERT INTO power_data SELECT id, logger_id, cell_id, ts, current, voltage, ts_server
FROM power_data_parted;
INSERT INTO teros_data SELECT id, cell_id, ts, vwc, temp, ec, ts_server, raw_vwc, water_pot
FROM teros_data_parted;
INSERT INTO data SELECT id, sensor_id, ts, ts_server, float_val, int_val, text_val
FROM data_parted;
DROP TABLE power_data_parted;
DROP TABLE teros_data_parted;
DROP TABLE data_parted;
DROP FUNCTION loam_ensure_partitions(timestamp[]);
DROP FUNCTION loam_drop_partitions_before(timestamp);
