DROP TABLE data_rollups;
DROP TABLE teros_rollups;
DROP TABLE power_rollups;
