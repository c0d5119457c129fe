-- The daily prune-jobs job deletes a workspace's done, cancelled and dead jobs finished
-- before the retention (SWITCHBOARD_JOB_RETENTION_DAYS).
CREATE INDEX jobs_finished_idx ON jobs (workspace_id, finished_at) WHERE status IN ('done', 'cancelled', 'dead');
