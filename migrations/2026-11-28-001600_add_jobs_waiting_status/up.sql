-- A job that cannot run yet through no fault of its own (an email while no SMTP server is
-- set up) is 'waiting', not 'failed': it uses no attempt and is tried again later.
ALTER TABLE jobs DROP CONSTRAINT jobs_status_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_status_check
    CHECK (status IN ('queued', 'running', 'waiting', 'failed', 'done', 'dead', 'cancelled'));
DROP INDEX jobs_ready_idx;
CREATE INDEX jobs_ready_idx ON jobs (run_at) WHERE status IN ('queued', 'waiting', 'failed');
