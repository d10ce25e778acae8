-- Rollups become append-only on Postgres. An upload's transaction used to upsert the hour and day
-- rows of its cell, and that row lock was held through the commit's disk sync: every upload to a
-- busy cell (and every batch sharing any cell) waited for the previous one's sync. Now an upload
-- inserts its batch's sums as new `fresh` rows, which nobody else locks, so concurrent commits
-- share their disk syncs; readers add up every row of a bucket, and a background compaction
-- (db/src/rollups.rs, `compact`) folds the fresh rows of a bucket into one.
ALTER TABLE power_rollups DROP CONSTRAINT power_rollups_pkey;
ALTER TABLE power_rollups ADD COLUMN fresh BOOLEAN NOT NULL DEFAULT false;
CREATE INDEX idx_power_rollups_key ON power_rollups (cell_id, width, bucket);
CREATE INDEX idx_power_rollups_fresh ON power_rollups (cell_id, width, bucket) WHERE fresh;

ALTER TABLE teros_rollups DROP CONSTRAINT teros_rollups_pkey;
ALTER TABLE teros_rollups ADD COLUMN fresh BOOLEAN NOT NULL DEFAULT false;
CREATE INDEX idx_teros_rollups_key ON teros_rollups (cell_id, width, bucket);
CREATE INDEX idx_teros_rollups_fresh ON teros_rollups (cell_id, width, bucket) WHERE fresh;

ALTER TABLE data_rollups DROP CONSTRAINT data_rollups_pkey;
ALTER TABLE data_rollups ADD COLUMN fresh BOOLEAN NOT NULL DEFAULT false;
CREATE INDEX idx_data_rollups_key ON data_rollups (sensor_id, width, bucket);
CREATE INDEX idx_data_rollups_fresh ON data_rollups (sensor_id, width, bucket) WHERE fresh;
