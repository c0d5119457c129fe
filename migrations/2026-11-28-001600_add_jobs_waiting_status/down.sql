UPDATE jobs SET status = 'failed' WHERE status = 'waiting';
ALTER TABLE jobs DROP CONSTRAINT jobs_status_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_status_check
    CHECK (status IN ('queued', 'running', 'failed', 'done', 'dead', 'cancelled'));
DROP INDEX jobs_ready_idx;
CREATE INDEX jobs_ready_idx ON jobs (run_at) WHERE status IN ('queued', 'failed');
