DROP TABLE opendata_approvals;
DROP TABLE jobs;
