DROP TRIGGER follow_up_counts_delete ON follow_ups;
DROP TRIGGER follow_up_counts_update ON follow_ups;
DROP TRIGGER follow_up_counts_insert ON follow_ups;
DROP FUNCTION follow_up_counts_apply();
DROP FUNCTION follow_up_buckets(timestamptz);
DROP TABLE follow_up_counts;

CREATE TABLE follow_up_counts (
    workspace_id bigint NOT NULL REFERENCES workspaces (id),
    assigned_to  bigint NOT NULL,
    hour         timestamptz NOT NULL,
    n            bigint NOT NULL,
    PRIMARY KEY (workspace_id, assigned_to, hour)
);

CREATE FUNCTION follow_up_counts_apply() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO follow_up_counts (workspace_id, assigned_to, hour, n)
        SELECT workspace_id, assigned_to, date_trunc('hour', due_at), -count(*) FROM old_rows
        WHERE status = 'pending' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (workspace_id, assigned_to, hour) DO UPDATE SET n = follow_up_counts.n + excluded.n;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO follow_up_counts (workspace_id, assigned_to, hour, n)
        SELECT workspace_id, assigned_to, date_trunc('hour', due_at), count(*) FROM new_rows
        WHERE status = 'pending' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (workspace_id, assigned_to, hour) DO UPDATE SET n = follow_up_counts.n + excluded.n;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

INSERT INTO follow_up_counts (workspace_id, assigned_to, hour, n)
SELECT workspace_id, assigned_to, date_trunc('hour', due_at), count(*)
FROM follow_ups WHERE status = 'pending' GROUP BY 1, 2, 3;

CREATE TRIGGER follow_up_counts_insert AFTER INSERT ON follow_ups
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION follow_up_counts_apply();
CREATE TRIGGER follow_up_counts_update AFTER UPDATE ON follow_ups
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION follow_up_counts_apply();
CREATE TRIGGER follow_up_counts_delete AFTER DELETE ON follow_ups
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION follow_up_counts_apply();
