-- Postgres makes its rollups append-only here (see its migration); SQLite has one writer at a
-- time, so it keeps one row per bucket, updated in place.
SELECT 1;
