-- The hourly prune forgets a workspace's status callbacks parked for over a day, and the
-- scheduler's tick drops rate events older than a day: range deletes on these.
CREATE INDEX early_status_callbacks_received_idx ON early_status_callbacks (workspace_id, received_at);
CREATE INDEX rate_events_created_idx ON rate_events (created_at);
