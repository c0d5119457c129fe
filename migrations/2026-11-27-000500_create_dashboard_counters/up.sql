-- Dashboard counters, kept by statement-level triggers so that a tile never counts a
-- million rows per request: clients per (assignee, status), communications per hour, and
-- pending follow-ups per (owner, due hour) — "overdue" and "due in 24 h" sum whole hours
-- and count only the partial hours at the edges from the table. Admins sum a workspace's
-- rows, agents their own; managers' department scopes are counted from the tables.
-- Counter rows are always upserted in key order, so concurrent writers cannot deadlock.

CREATE TABLE client_counts (
    workspace_id bigint NOT NULL REFERENCES workspaces (id),
    -- 0 = unassigned (a key column cannot be NULL).
    assigned_to  bigint NOT NULL,
    status       text NOT NULL,
    n            bigint NOT NULL,
    PRIMARY KEY (workspace_id, assigned_to, status)
);

-- Per hour, so that any workspace time zone can cut the hours into its own days.
CREATE TABLE communication_counts (
    workspace_id bigint NOT NULL REFERENCES workspaces (id),
    hour         timestamptz NOT NULL,
    n            bigint NOT NULL,
    PRIMARY KEY (workspace_id, hour)
);

CREATE FUNCTION client_counts_apply() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO client_counts (workspace_id, assigned_to, status, n)
        SELECT workspace_id, coalesce(assigned_to, 0), status, -count(*) FROM old_rows
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (workspace_id, assigned_to, status) DO UPDATE SET n = client_counts.n + excluded.n;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO client_counts (workspace_id, assigned_to, status, n)
        SELECT workspace_id, coalesce(assigned_to, 0), status, count(*) FROM new_rows
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (workspace_id, assigned_to, status) DO UPDATE SET n = client_counts.n + excluded.n;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER client_counts_insert AFTER INSERT ON clients
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION client_counts_apply();
CREATE TRIGGER client_counts_update AFTER UPDATE ON clients
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION client_counts_apply();
CREATE TRIGGER client_counts_delete AFTER DELETE ON clients
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION client_counts_apply();

CREATE FUNCTION communication_counts_apply() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO communication_counts (workspace_id, hour, n)
        SELECT workspace_id, date_trunc('hour', occurred_at), -count(*) FROM old_rows GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (workspace_id, hour) DO UPDATE SET n = communication_counts.n + excluded.n;
    ELSE
        INSERT INTO communication_counts (workspace_id, hour, n)
        SELECT workspace_id, date_trunc('hour', occurred_at), count(*) FROM new_rows GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (workspace_id, hour) DO UPDATE SET n = communication_counts.n + excluded.n;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER communication_counts_insert AFTER INSERT ON communications
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION communication_counts_apply();
CREATE TRIGGER communication_counts_delete AFTER DELETE ON communications
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION communication_counts_apply();

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

CREATE TRIGGER follow_up_counts_insert AFTER INSERT ON follow_ups
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION follow_up_counts_apply();
CREATE TRIGGER follow_up_counts_update AFTER UPDATE ON follow_ups
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION follow_up_counts_apply();
CREATE TRIGGER follow_up_counts_delete AFTER DELETE ON follow_ups
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION follow_up_counts_apply();
