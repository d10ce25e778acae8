-- Fold every bucket back into one row, then restore the keys.
CREATE TEMP TABLE folded_power AS
SELECT cell_id, width, bucket, sum(n_v)::bigint AS n_v, sum(sum_v) AS sum_v,
       sum(n_i)::bigint AS n_i, sum(sum_i) AS sum_i, sum(n_p)::bigint AS n_p, sum(sum_p) AS sum_p
FROM power_rollups GROUP BY 1, 2, 3;
DELETE FROM power_rollups;
INSERT INTO power_rollups (cell_id, width, bucket, n_v, sum_v, n_i, sum_i, n_p, sum_p)
SELECT * FROM folded_power;
DROP INDEX idx_power_rollups_key;
DROP INDEX idx_power_rollups_fresh;
ALTER TABLE power_rollups DROP COLUMN fresh;
ALTER TABLE power_rollups ADD PRIMARY KEY (cell_id, width, bucket);

CREATE TEMP TABLE folded_teros AS
SELECT cell_id, width, bucket, sum(n_vwc)::bigint AS n_vwc, sum(sum_vwc) AS sum_vwc,
       sum(n_raw)::bigint AS n_raw, sum(sum_raw) AS sum_raw, sum(n_temp)::bigint AS n_temp,
       sum(sum_temp) AS sum_temp, sum(n_ec)::bigint AS n_ec, sum(sum_ec) AS sum_ec
FROM teros_rollups GROUP BY 1, 2, 3;
DELETE FROM teros_rollups;
INSERT INTO teros_rollups (cell_id, width, bucket, n_vwc, sum_vwc, n_raw, sum_raw, n_temp,
                           sum_temp, n_ec, sum_ec)
SELECT * FROM folded_teros;
DROP INDEX idx_teros_rollups_key;
DROP INDEX idx_teros_rollups_fresh;
ALTER TABLE teros_rollups DROP COLUMN fresh;
ALTER TABLE teros_rollups ADD PRIMARY KEY (cell_id, width, bucket);

CREATE TEMP TABLE folded_data AS
SELECT sensor_id, width, bucket, sum(n)::bigint AS n, sum(total) AS total
FROM data_rollups GROUP BY 1, 2, 3;
DELETE FROM data_rollups;
INSERT INTO data_rollups (sensor_id, width, bucket, n, total) SELECT * FROM folded_data;
DROP INDEX idx_data_rollups_key;
DROP INDEX idx_data_rollups_fresh;
ALTER TABLE data_rollups DROP COLUMN fresh;
ALTER TABLE data_rollups ADD PRIMARY KEY (sensor_id, width, bucket);
