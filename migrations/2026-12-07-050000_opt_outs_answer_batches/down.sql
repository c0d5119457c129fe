UPDATE campaign_recipients SET reply = NULL WHERE reply = 'opt_out';
ALTER TABLE campaign_recipients DROP CONSTRAINT campaign_recipients_reply_check;
ALTER TABLE campaign_recipients ADD CONSTRAINT campaign_recipients_reply_check
    CHECK (reply IN ('yes', 'no', 'other'));

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
