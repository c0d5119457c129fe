DROP TRIGGER campaign_message_accepted_update ON messages;
DROP TRIGGER campaign_message_accepted_insert ON messages;
DROP FUNCTION campaign_message_accepted();
DELETE FROM campaign_hourly_counts WHERE key = 'accepted';
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
        SELECT n.workspace_id, b.campaign_id, date_trunc('hour', now()), k.key, count(*)
        FROM new_rows n JOIN old_rows o USING (workspace_id, batch_id, client_id)
        JOIN campaign_batches b ON b.workspace_id = n.workspace_id AND b.id = n.batch_id
        CROSS JOIN LATERAL (
            SELECT n.status AS key WHERE n.status IN ('sent', 'delivered', 'read', 'failed') AND n.status IS DISTINCT FROM o.status
            UNION ALL SELECT 'replied' WHERE n.reply IS NOT NULL AND o.reply IS NULL) k
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (workspace_id, campaign_id, hour, key) DO UPDATE SET n = campaign_hourly_counts.n + excluded.n;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
INSERT INTO campaign_hourly_counts (workspace_id, campaign_id, hour, key, n)
SELECT r.workspace_id, b.campaign_id, date_trunc('hour', t.at), t.key, count(*)
FROM campaign_recipients r
JOIN campaign_batches b ON b.workspace_id = r.workspace_id AND b.id = r.batch_id
JOIN messages m ON m.workspace_id = r.workspace_id AND m.id = r.message_id
CROSS JOIN LATERAL (VALUES ('sent', m.sent_at), ('delivered', m.delivered_at), ('read', m.read_at), ('failed', m.failed_at)) AS t(key, at)
WHERE t.at IS NOT NULL
GROUP BY 1, 2, 3, 4;
