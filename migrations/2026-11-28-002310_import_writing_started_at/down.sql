ALTER TABLE imports DROP COLUMN writing_started_at;
