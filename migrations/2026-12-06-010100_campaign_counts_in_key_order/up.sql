-- Issue 18 item 4: the batch counters were updated in two statements, the old statuses'
-- keys first, then the new ones'; a claim (queued -> sending) and a message given back after
-- a refusal (sending -> queued) running at once locked 'queued' and 'sending' in opposite
-- orders and deadlocked, and the statement that lost left its message claimed. Now one
-- statement adds each key's net change in key order (a key whose change nets to zero is not
-- touched), so any two updates lock the counters in the same order.
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
