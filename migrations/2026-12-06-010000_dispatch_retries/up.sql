-- Issue 18 item 4: a flaky provider no longer stalls a batch.
-- A campaign message counts its own send attempts (a retryable refusal given back), and is
-- not tried again before `retry_at` (its own backoff).
ALTER TABLE messages ADD COLUMN send_attempts integer NOT NULL DEFAULT 0 CHECK (send_attempts >= 0),
                     ADD COLUMN retry_at timestamptz;
-- The check job's doing on a batch left "sending" with nothing scheduled: how often it
-- resumed it, and what the recipients page says ("Resumed by the check at …", "Failed: …").
ALTER TABLE campaign_batches ADD COLUMN stall_resumes integer NOT NULL DEFAULT 0 CHECK (stall_resumes >= 0),
                             ADD COLUMN stall_note text CHECK (length(stall_note) <= 500);
-- The check looks at the unfinished batches only.
CREATE INDEX campaign_batches_unfinished_idx ON campaign_batches (workspace_id, id) WHERE status IN ('scheduled', 'sending');
