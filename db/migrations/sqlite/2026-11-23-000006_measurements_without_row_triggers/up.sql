-- Postgres drops the measurement tables' foreign keys here (see its migration); SQLite keeps them:
-- one writer at a time, in-process, so they cost little. This keeps the two histories aligned.
SELECT 1;
