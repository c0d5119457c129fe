-- Pending follow-ups per owner at three grains (1 = day, 2 = hour, 3 = minute, all UTC), so
-- "how many are due before t" for any instant t reads a bounded number of counter rows:
-- the days before t's day, the hours of t's day before t's hour, the minutes of t's hour
-- before t's minute, and the follow-ups of t's own minute from the table. The hourly-only
-- counters this replaces left a whole hour at each edge to count from the table, which
-- grows with the number of follow-ups.
DROP TRIGGER follow_up_counts_delete ON follow_ups;
DROP TRIGGER follow_up_counts_update ON follow_ups;
DROP TRIGGER follow_up_counts_insert ON follow_ups;
DROP FUNCTION follow_up_counts_apply();
DROP TABLE follow_up_counts;

CREATE TABLE follow_up_counts (
    workspace_id bigint NOT NULL REFERENCES workspaces (id),
    grain        smallint NOT NULL CHECK (grain IN (1, 2, 3)),
    bucket       timestamptz NOT NULL,
    assigned_to  bigint NOT NULL,
    n            bigint NOT NULL,
    -- Ranges of one grain are contiguous for the whole workspace (admins) and, filtered
    -- by owner, for one agent.
    PRIMARY KEY (workspace_id, grain, bucket, assigned_to)
);

CREATE FUNCTION follow_up_buckets(due timestamptz) RETURNS TABLE (grain smallint, bucket timestamptz) AS $$
    VALUES (1::smallint, date_trunc('day', due, 'UTC')),
           (2::smallint, date_trunc('hour', due, 'UTC')),
           (3::smallint, date_trunc('minute', due, 'UTC'))
$$ LANGUAGE sql STABLE;

-- Upserts in key order, so concurrent writers cannot deadlock on the counter rows.
CREATE FUNCTION follow_up_counts_apply() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO follow_up_counts (workspace_id, grain, bucket, assigned_to, n)
        SELECT o.workspace_id, b.grain, b.bucket, o.assigned_to, -count(*)
        FROM old_rows o CROSS JOIN LATERAL follow_up_buckets(o.due_at) b
        WHERE o.status = 'pending' GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (workspace_id, grain, bucket, assigned_to) DO UPDATE SET n = follow_up_counts.n + excluded.n;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO follow_up_counts (workspace_id, grain, bucket, assigned_to, n)
        SELECT r.workspace_id, b.grain, b.bucket, r.assigned_to, count(*)
        FROM new_rows r CROSS JOIN LATERAL follow_up_buckets(r.due_at) b
        WHERE r.status = 'pending' GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (workspace_id, grain, bucket, assigned_to) DO UPDATE SET n = follow_up_counts.n + excluded.n;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

INSERT INTO follow_up_counts (workspace_id, grain, bucket, assigned_to, n)
SELECT f.workspace_id, b.grain, b.bucket, f.assigned_to, count(*)
FROM follow_ups f CROSS JOIN LATERAL follow_up_buckets(f.due_at) b
WHERE f.status = 'pending' GROUP BY 1, 2, 3, 4;

CREATE TRIGGER follow_up_counts_insert AFTER INSERT ON follow_ups
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION follow_up_counts_apply();
CREATE TRIGGER follow_up_counts_update AFTER UPDATE ON follow_ups
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION follow_up_counts_apply();
CREATE TRIGGER follow_up_counts_delete AFTER DELETE ON follow_ups
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION follow_up_counts_apply();
