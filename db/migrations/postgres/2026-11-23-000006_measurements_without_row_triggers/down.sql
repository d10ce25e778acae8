ALTER TABLE power_data ADD CONSTRAINT power_data_cell_id_fkey FOREIGN KEY (cell_id) REFERENCES cells (id) ON DELETE CASCADE;
ALTER TABLE power_data ADD CONSTRAINT power_data_logger_id_fkey FOREIGN KEY (logger_id) REFERENCES loggers (id) ON DELETE SET NULL;
ALTER TABLE teros_data ADD CONSTRAINT teros_data_cell_id_fkey FOREIGN KEY (cell_id) REFERENCES cells (id) ON DELETE CASCADE;
ALTER TABLE power_rollups ADD CONSTRAINT power_rollups_cell_id_fkey FOREIGN KEY (cell_id) REFERENCES cells (id) ON DELETE CASCADE;
ALTER TABLE teros_rollups ADD CONSTRAINT teros_rollups_cell_id_fkey FOREIGN KEY (cell_id) REFERENCES cells (id) ON DELETE CASCADE;
