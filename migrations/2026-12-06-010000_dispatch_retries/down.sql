DROP INDEX campaign_batches_unfinished_idx;
ALTER TABLE campaign_batches DROP COLUMN stall_note, DROP COLUMN stall_resumes;
ALTER TABLE messages DROP COLUMN retry_at, DROP COLUMN send_attempts;
