-- When an import began saving, so the time left while saving can be estimated from this
-- workspace's earlier saving rates.
ALTER TABLE imports ADD COLUMN writing_started_at timestamptz;
