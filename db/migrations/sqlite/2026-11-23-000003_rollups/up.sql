-- Hourly and daily sums kept up to date as rows arrive (late and out-of-order ones included), so
-- resampled reads of long ranges read one row per bucket instead of every measurement.
-- `width` is the bucket length in seconds (3600 or 86400); `bucket` its start, Unix seconds (UTC).
-- Averages are sum / count per column, which equals AVG over the raw rows of the bucket.

CREATE TABLE power_rollups (
    cell_id INTEGER NOT NULL REFERENCES cells (id) ON DELETE CASCADE,
    width   INTEGER NOT NULL,
    bucket  BIGINT NOT NULL,
    n_v     BIGINT NOT NULL,
    sum_v   DOUBLE NOT NULL,
    n_i     BIGINT NOT NULL,
    sum_i   DOUBLE NOT NULL,
    n_p     BIGINT NOT NULL,
    sum_p   DOUBLE NOT NULL,
    PRIMARY KEY (cell_id, width, bucket)
);

CREATE TABLE teros_rollups (
    cell_id  INTEGER NOT NULL REFERENCES cells (id) ON DELETE CASCADE,
    width    INTEGER NOT NULL,
    bucket   BIGINT NOT NULL,
    n_vwc    BIGINT NOT NULL,
    sum_vwc  DOUBLE NOT NULL,   -- of VWC in percent (fractions scaled per row)
    n_raw    BIGINT NOT NULL,
    sum_raw  DOUBLE NOT NULL,
    n_temp   BIGINT NOT NULL,
    sum_temp DOUBLE NOT NULL,
    n_ec     BIGINT NOT NULL,
    sum_ec   DOUBLE NOT NULL,
    PRIMARY KEY (cell_id, width, bucket)
);

CREATE TABLE data_rollups (
    sensor_id INTEGER NOT NULL REFERENCES sensors (id) ON DELETE CASCADE,
    width     INTEGER NOT NULL,
    bucket    BIGINT NOT NULL,
    n         BIGINT NOT NULL,
    total     DOUBLE NOT NULL,
    PRIMARY KEY (sensor_id, width, bucket)
);

-- Existing rows (an upgraded deployment) get their rollups now.
INSERT INTO power_rollups
SELECT cell_id, w.width, (CAST(strftime('%s', ts) AS INTEGER) / w.width) * w.width,
       COUNT(voltage), COALESCE(SUM(voltage), 0), COUNT(current), COALESCE(SUM(current), 0),
       COUNT(voltage * current), COALESCE(SUM(voltage * current), 0)
FROM power_data, (SELECT 3600 AS width UNION ALL SELECT 86400) AS w
GROUP BY cell_id, w.width, (CAST(strftime('%s', ts) AS INTEGER) / w.width) * w.width;

INSERT INTO teros_rollups
SELECT cell_id, w.width, (CAST(strftime('%s', ts) AS INTEGER) / w.width) * w.width,
       COUNT(vwc), COALESCE(SUM(CASE WHEN vwc > 0 AND vwc <= 1 THEN vwc * 100 ELSE vwc END), 0),
       COUNT(raw_vwc), COALESCE(SUM(raw_vwc), 0), COUNT(temp), COALESCE(SUM(temp), 0),
       COUNT(ec), COALESCE(SUM(ec), 0)
FROM teros_data, (SELECT 3600 AS width UNION ALL SELECT 86400) AS w
GROUP BY cell_id, w.width, (CAST(strftime('%s', ts) AS INTEGER) / w.width) * w.width;

INSERT INTO data_rollups
SELECT sensor_id, w.width, (CAST(strftime('%s', ts) AS INTEGER) / w.width) * w.width,
       COUNT(float_val), COALESCE(SUM(float_val), 0)
FROM data, (SELECT 3600 AS width UNION ALL SELECT 86400) AS w
GROUP BY sensor_id, w.width, (CAST(strftime('%s', ts) AS INTEGER) / w.width) * w.width;
