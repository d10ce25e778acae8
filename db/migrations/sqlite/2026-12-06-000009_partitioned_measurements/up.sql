-- Postgres partitions its measurement tables by month here; SQLite keeps one table each (a
-- single file has nothing to gain from partitions; retention deletes rows instead).
SELECT 1;
