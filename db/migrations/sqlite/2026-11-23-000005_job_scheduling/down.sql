DROP INDEX idx_jobs_kind_payload;
DROP TABLE job_artifacts;
ALTER TABLE jobs DROP COLUMN run_after;
