-- The job queue. Workers claim with FOR UPDATE SKIP LOCKED and hold a lease
-- (locked_until) they keep extending; a job whose lease ran out (its worker died) is
-- claimed again. Enqueueing inside a handler's transaction is the outbox: a rolled-back
-- transaction leaves no job. `pg_notify('switchboard_jobs')` at commit wakes the workers.
CREATE TABLE jobs (
    workspace_id    bigint NOT NULL REFERENCES workspaces (id),
    id              bigint GENERATED ALWAYS AS IDENTITY,
    kind            text NOT NULL,
    payload         jsonb NOT NULL DEFAULT '{}',
    -- failed: waiting for a retry at run_at; dead: out of attempts (kept, can be retried).
    status          text NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'running', 'failed', 'done', 'dead', 'cancelled')),
    run_at          timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    max_attempts    integer NOT NULL DEFAULT 5 CHECK (max_attempts BETWEEN 1 AND 100),
    last_error      text,
    locked_by       text,
    locked_until    timestamptz,
    -- E.g. client-status:2026-11-27: the same key twice is one job.
    idempotency_key text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    PRIMARY KEY (workspace_id, id),
    UNIQUE (workspace_id, idempotency_key)
);
CREATE INDEX jobs_ready_idx ON jobs (run_at) WHERE status IN ('queued', 'failed');
CREATE INDEX jobs_lease_idx ON jobs (locked_until) WHERE status = 'running';
CREATE INDEX jobs_list_idx ON jobs (workspace_id, status, updated_at DESC);

-- Daily automation, per workspace: the local time the daily jobs run at, and how long a
-- status set by hand is kept from the status rule.
ALTER TABLE workspaces
    ADD COLUMN daily_jobs_at time NOT NULL DEFAULT '07:00',
    ADD COLUMN hand_status_days integer NOT NULL DEFAULT 14 CHECK (hand_status_days BETWEEN 0 AND 365);
