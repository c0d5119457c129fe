-- The campaigns tile's "Sends today" (issue 19 item 5): a send is a campaign message the
-- provider accepted (its provider id recorded), whatever its callbacks say next and in
-- whatever order they arrive. Counted per hour as `accepted` when the id is recorded (or a
-- message is inserted with one). The recipients' transitions no longer feed the hourly
-- counters (a recipient that goes straight to delivered never passed `sent`), save the first
-- replies; the tile's 7-day rates come from the batch counters the batch pages show.

CREATE FUNCTION campaign_message_accepted() RETURNS trigger AS $$
BEGIN
    INSERT INTO campaign_hourly_counts (workspace_id, campaign_id, hour, key, n)
    SELECT NEW.workspace_id, b.campaign_id, date_trunc('hour', now()), 'accepted', 1
    FROM campaign_batches b WHERE b.workspace_id = NEW.workspace_id AND b.id = NEW.batch_id
    ON CONFLICT (workspace_id, campaign_id, hour, key) DO UPDATE SET n = campaign_hourly_counts.n + 1;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER campaign_message_accepted_insert AFTER INSERT ON messages
    FOR EACH ROW WHEN (NEW.batch_id IS NOT NULL AND NEW.provider_id IS NOT NULL AND NEW.direction = 'outbound')
    EXECUTE FUNCTION campaign_message_accepted();
CREATE TRIGGER campaign_message_accepted_update AFTER UPDATE OF provider_id ON messages
    FOR EACH ROW WHEN (NEW.batch_id IS NOT NULL AND OLD.provider_id IS NULL AND NEW.provider_id IS NOT NULL AND NEW.direction = 'outbound')
    EXECUTE FUNCTION campaign_message_accepted();

-- The batch counters as 2026-12-06-010100 left them (each key's net change in one ordered
-- statement, so a claim and a give-back cannot deadlock); the hourly counters keep only the
-- replies (sends are counted above, when the provider accepts them).
CREATE OR REPLACE FUNCTION campaign_counts_apply() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO campaign_batch_counts (workspace_id, batch_id, key, n)
        SELECT workspace_id, batch_id, key, -count(*) FROM (
            SELECT workspace_id, batch_id, status AS key FROM old_rows
            UNION ALL SELECT workspace_id, batch_id, 'reply:' || reply FROM old_rows WHERE reply IS NOT NULL) o
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (workspace_id, batch_id, key) DO UPDATE SET n = campaign_batch_counts.n + excluded.n;
    ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO campaign_batch_counts (workspace_id, batch_id, key, n)
        SELECT workspace_id, batch_id, key, count(*) FROM (
            SELECT workspace_id, batch_id, status AS key FROM new_rows
            UNION ALL SELECT workspace_id, batch_id, 'reply:' || reply FROM new_rows WHERE reply IS NOT NULL) n
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (workspace_id, batch_id, key) DO UPDATE SET n = campaign_batch_counts.n + excluded.n;
    ELSE
        INSERT INTO campaign_batch_counts (workspace_id, batch_id, key, n)
        SELECT workspace_id, batch_id, key, sum(d)::bigint FROM (
            SELECT workspace_id, batch_id, status AS key, -1 AS d FROM old_rows
            UNION ALL SELECT workspace_id, batch_id, 'reply:' || reply, -1 FROM old_rows WHERE reply IS NOT NULL
            UNION ALL SELECT workspace_id, batch_id, status, 1 FROM new_rows
            UNION ALL SELECT workspace_id, batch_id, 'reply:' || reply, 1 FROM new_rows WHERE reply IS NOT NULL) c
        GROUP BY 1, 2, 3 HAVING sum(d) <> 0 ORDER BY 1, 2, 3
        ON CONFLICT (workspace_id, batch_id, key) DO UPDATE SET n = campaign_batch_counts.n + excluded.n;
        INSERT INTO campaign_hourly_counts (workspace_id, campaign_id, hour, key, n)
        SELECT n.workspace_id, b.campaign_id, date_trunc('hour', now()), 'replied', count(*)
        FROM new_rows n JOIN old_rows o USING (workspace_id, batch_id, client_id)
        JOIN campaign_batches b ON b.workspace_id = n.workspace_id AND b.id = n.batch_id
        WHERE n.reply IS NOT NULL AND o.reply IS NULL
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (workspace_id, campaign_id, hour, key) DO UPDATE SET n = campaign_hourly_counts.n + excluded.n;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

-- Rebuilt: the transition counters go; the accepted sends are counted from the messages,
-- at the hour their send was attempted (else their first status time, else their creation).
DELETE FROM campaign_hourly_counts WHERE key IN ('sent', 'delivered', 'read', 'failed');
INSERT INTO campaign_hourly_counts (workspace_id, campaign_id, hour, key, n)
SELECT m.workspace_id, b.campaign_id, date_trunc('hour', coalesce(m.attempt_at, m.sent_at, m.delivered_at, m.read_at, m.failed_at, m.created_at)), 'accepted', count(*)
FROM messages m JOIN campaign_batches b ON b.workspace_id = m.workspace_id AND b.id = m.batch_id
WHERE m.batch_id IS NOT NULL AND m.provider_id IS NOT NULL AND m.direction = 'outbound'
GROUP BY 1, 2, 3, 4;
