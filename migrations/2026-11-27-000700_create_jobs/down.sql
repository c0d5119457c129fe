ALTER TABLE workspaces DROP COLUMN daily_jobs_at, DROP COLUMN hand_status_days;
DROP TABLE jobs;
