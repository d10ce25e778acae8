-- Measurement tables are written in bulk (uploads in group commits, imports of millions of rows),
-- and a foreign key costs a trigger call per row, more than the insert itself. Loam checks and
-- holds the parents once per statement instead (`FOR KEY SHARE` on the cells and loggers named,
-- the lock those triggers take), and deleting a cell or logger removes or detaches its rows in
-- the same transaction (db/src/cells.rs, db/src/loggers.rs).
ALTER TABLE power_data DROP CONSTRAINT power_data_cell_id_fkey;
ALTER TABLE power_data DROP CONSTRAINT power_data_logger_id_fkey;
ALTER TABLE teros_data DROP CONSTRAINT teros_data_cell_id_fkey;
ALTER TABLE power_rollups DROP CONSTRAINT power_rollups_cell_id_fkey;
ALTER TABLE teros_rollups DROP CONSTRAINT teros_rollups_cell_id_fkey;
