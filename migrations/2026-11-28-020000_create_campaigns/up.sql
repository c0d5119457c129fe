-- Campaigns (issue 12): a campaign, its departments and attached clients; batches (one send
-- of one message to every attached client on one channel) and their recipients; WhatsApp
-- flows; and the counters the recipients dashboard and the campaign tiles read.

CREATE TABLE campaigns (
    workspace_id  bigint NOT NULL REFERENCES workspaces (id),
    id            bigint GENERATED ALWAYS AS IDENTITY,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    channels      text[] NOT NULL CHECK (cardinality(channels) >= 1 AND channels <@ ARRAY['whatsapp', 'sms', 'email']),
    whatsapp_from text CHECK (whatsapp_from ~ '^\+[1-9][0-9]{6,14}$'),
    status        text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'active', 'paused', 'completed')),
    created_by    bigint,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    completed_at  timestamptz,
    PRIMARY KEY (workspace_id, id)
);
CREATE INDEX campaigns_list_idx ON campaigns (workspace_id, created_at DESC, id DESC);

CREATE TABLE campaign_departments (
    workspace_id  bigint NOT NULL,
    campaign_id   bigint NOT NULL,
    department_id bigint NOT NULL,
    PRIMARY KEY (workspace_id, campaign_id, department_id),
    FOREIGN KEY (workspace_id, campaign_id) REFERENCES campaigns (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, department_id) REFERENCES departments (workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX campaign_departments_department_idx ON campaign_departments (workspace_id, department_id);

-- The audience: a client attached twice is one row.
CREATE TABLE campaign_clients (
    workspace_id bigint NOT NULL,
    campaign_id  bigint NOT NULL,
    client_id    bigint NOT NULL,
    attached_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, campaign_id, client_id),
    FOREIGN KEY (workspace_id, campaign_id) REFERENCES campaigns (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, client_id) REFERENCES clients (workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX campaign_clients_client_idx ON campaign_clients (workspace_id, client_id);

-- A saved sequence of approved templates: `steps` is
-- [{"key": "s1", "template_id": 7, "buttons": {"yes": "s2", "no": null}}, …]; the first step
-- starts the flow, a button leads to a step's key or ends it (null).
CREATE TABLE whatsapp_flows (
    workspace_id bigint NOT NULL REFERENCES workspaces (id),
    id           bigint GENERATED ALWAYS AS IDENTITY,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    steps        jsonb NOT NULL DEFAULT '[]',
    created_by   bigint,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id)
);

-- One send of one message to the campaign's clients on one channel, now or at `send_at`.
-- `variables`: {"1": {"field": "name"}, "2": {"text": "Friday"}}; a flow batch keeps the flow
-- as it was when the batch was made (`flow_snapshot`).
CREATE TABLE campaign_batches (
    workspace_id  bigint NOT NULL,
    id            bigint GENERATED ALWAYS AS IDENTITY,
    campaign_id   bigint NOT NULL,
    channel       text NOT NULL CHECK (channel IN ('whatsapp', 'sms', 'email')),
    mode          text NOT NULL CHECK (mode IN ('template', 'flow', 'text', 'email')),
    template_id   bigint,
    flow_id       bigint,
    flow_snapshot jsonb,
    variables     jsonb NOT NULL DEFAULT '{}',
    subject       text CHECK (length(subject) <= 300),
    body          text NOT NULL DEFAULT '' CHECK (length(body) <= 100000),
    html_body     text CHECK (length(html_body) <= 500000),
    sender        text,
    send_at       timestamptz NOT NULL DEFAULT now(),
    status        text NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'sending', 'done', 'cancelled')),
    -- A re-target of another batch's failed recipients.
    retarget_of   bigint,
    created_by    bigint,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz,
    PRIMARY KEY (workspace_id, id),
    FOREIGN KEY (workspace_id, campaign_id) REFERENCES campaigns (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, template_id) REFERENCES whatsapp_templates (workspace_id, id),
    FOREIGN KEY (workspace_id, flow_id) REFERENCES whatsapp_flows (workspace_id, id)
);
CREATE INDEX campaign_batches_campaign_idx ON campaign_batches (workspace_id, campaign_id, created_at DESC);
CREATE INDEX campaign_batches_due_idx ON campaign_batches (send_at) WHERE status = 'scheduled';

-- One row per (batch, client): with the message core's claim, what makes "never twice" hold.
CREATE TABLE campaign_recipients (
    workspace_id  bigint NOT NULL,
    batch_id      bigint NOT NULL,
    client_id     bigint NOT NULL,
    status        text NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'sending', 'sent', 'delivered', 'read', 'failed', 'skipped', 'cancelled', 'unknown')),
    skip_reason   text,
    message_id    bigint,
    error_code    integer,
    error_message text,
    reply         text CHECK (reply IN ('yes', 'no', 'other')),
    -- Flow batches: the step the recipient was last sent.
    flow_step     text,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, batch_id, client_id),
    FOREIGN KEY (workspace_id, batch_id) REFERENCES campaign_batches (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, client_id) REFERENCES clients (workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX campaign_recipients_queued_idx ON campaign_recipients (workspace_id, batch_id, client_id) WHERE status = 'queued';
CREATE INDEX campaign_recipients_status_idx ON campaign_recipients (workspace_id, batch_id, status, client_id);
CREATE UNIQUE INDEX campaign_recipients_message_idx ON campaign_recipients (workspace_id, message_id) WHERE message_id IS NOT NULL;
CREATE INDEX campaign_recipients_client_idx ON campaign_recipients (workspace_id, client_id);

-- A campaign message knows its batch (its status callbacks then move the recipient).
ALTER TABLE messages ADD COLUMN batch_id bigint;
ALTER TABLE messages ADD FOREIGN KEY (workspace_id, batch_id) REFERENCES campaign_batches (workspace_id, id);
CREATE INDEX messages_batch_idx ON messages (workspace_id, batch_id) WHERE batch_id IS NOT NULL;

-- A campaign message's status, as its recipient's.
CREATE FUNCTION recipient_status_of(message_status text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE message_status
        WHEN 'queued' THEN 'queued' WHEN 'sending' THEN 'sending' WHEN 'accepted' THEN 'sending'
        WHEN 'sent' THEN 'sent' WHEN 'delivered' THEN 'delivered' WHEN 'read' THEN 'read'
        WHEN 'undelivered' THEN 'failed' WHEN 'failed' THEN 'failed' WHEN 'unknown' THEN 'unknown' END
$$;

-- Whatever path moves a campaign message (a send, a callback, reconciliation), its
-- recipient follows, with the error.
CREATE FUNCTION campaign_message_moved() RETURNS trigger AS $$
BEGIN
    UPDATE campaign_recipients SET status = recipient_status_of(NEW.status), error_code = NEW.error_code,
        error_message = NEW.error_message, updated_at = now()
    WHERE workspace_id = NEW.workspace_id AND batch_id = NEW.batch_id AND message_id = NEW.id
      AND status IS DISTINCT FROM recipient_status_of(NEW.status);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER campaign_message_moved AFTER UPDATE OF status ON messages
    FOR EACH ROW WHEN (NEW.batch_id IS NOT NULL AND NEW.status IS DISTINCT FROM OLD.status)
    EXECUTE FUNCTION campaign_message_moved();

-- Counters, kept by statement-level triggers (as the dashboard's): per batch, recipients by
-- status and replies by kind (`key` = 'queued', …, 'reply:yes'); per hour, what reached
-- sent / delivered / read / failed and the replies (the campaign tiles' 7-day rates).
CREATE TABLE campaign_batch_counts (
    workspace_id bigint NOT NULL,
    batch_id     bigint NOT NULL,
    key          text NOT NULL,
    n            bigint NOT NULL,
    PRIMARY KEY (workspace_id, batch_id, key)
);
CREATE TABLE campaign_hourly_counts (
    workspace_id bigint NOT NULL,
    hour         timestamptz NOT NULL,
    key          text NOT NULL,
    n            bigint NOT NULL,
    PRIMARY KEY (workspace_id, hour, key)
);

CREATE FUNCTION campaign_counts_apply() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO campaign_batch_counts (workspace_id, batch_id, key, n)
        SELECT workspace_id, batch_id, key, -count(*) FROM (
            SELECT workspace_id, batch_id, status AS key FROM old_rows
            UNION ALL SELECT workspace_id, batch_id, 'reply:' || reply FROM old_rows WHERE reply IS NOT NULL) o
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (workspace_id, batch_id, key) DO UPDATE SET n = campaign_batch_counts.n + excluded.n;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO campaign_batch_counts (workspace_id, batch_id, key, n)
        SELECT workspace_id, batch_id, key, count(*) FROM (
            SELECT workspace_id, batch_id, status AS key FROM new_rows
            UNION ALL SELECT workspace_id, batch_id, 'reply:' || reply FROM new_rows WHERE reply IS NOT NULL) n
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (workspace_id, batch_id, key) DO UPDATE SET n = campaign_batch_counts.n + excluded.n;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO campaign_hourly_counts (workspace_id, hour, key, n)
        SELECT n.workspace_id, date_trunc('hour', now()), k.key, count(*)
        FROM new_rows n JOIN old_rows o USING (workspace_id, batch_id, client_id)
        CROSS JOIN LATERAL (
            SELECT n.status AS key WHERE n.status IN ('sent', 'delivered', 'read', 'failed') AND n.status IS DISTINCT FROM o.status
            UNION ALL SELECT 'replied' WHERE n.reply IS NOT NULL AND o.reply IS NULL) k
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (workspace_id, hour, key) DO UPDATE SET n = campaign_hourly_counts.n + excluded.n;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER campaign_counts_insert AFTER INSERT ON campaign_recipients
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION campaign_counts_apply();
CREATE TRIGGER campaign_counts_update AFTER UPDATE ON campaign_recipients
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION campaign_counts_apply();
CREATE TRIGGER campaign_counts_delete AFTER DELETE ON campaign_recipients
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION campaign_counts_apply();
