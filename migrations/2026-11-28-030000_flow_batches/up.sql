-- Flow batches (issue 12 part 4).
--
-- campaign_flow_answers: one row per message of a flow batch that a recipient answered with
-- a quick-reply button, keyed by that message. The next step's message is written in the
-- same transaction as this row, inserted ON CONFLICT DO NOTHING: however often Twilio calls
-- back, and whichever instance takes the callbacks at the same time, an answered message
-- leads to at most one send (the first answer wins; a later tap on the same message, or on
-- another of its buttons, changes nothing). A button that ends the flow is an answer with no
-- next step.
CREATE TABLE campaign_flow_answers (
    workspace_id    bigint NOT NULL,
    message_id      bigint NOT NULL,
    batch_id        bigint NOT NULL,
    client_id       bigint NOT NULL,
    step_key        text NOT NULL,
    button          text NOT NULL,
    next_step       text,
    sent_message_id bigint,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, message_id),
    FOREIGN KEY (workspace_id, batch_id, client_id) REFERENCES campaign_recipients (workspace_id, batch_id, client_id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX campaign_flow_answers_sent_idx ON campaign_flow_answers (workspace_id, sent_message_id) WHERE sent_message_id IS NOT NULL;

-- Which steps each recipient reached (was sent), once per step; its statement trigger keeps
-- the dashboard's per-step counters (`campaign_batch_counts` key 'step:<key>').
CREATE TABLE campaign_flow_reached (
    workspace_id bigint NOT NULL,
    batch_id     bigint NOT NULL,
    client_id    bigint NOT NULL,
    step_key     text NOT NULL,
    reached_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, batch_id, client_id, step_key),
    FOREIGN KEY (workspace_id, batch_id, client_id) REFERENCES campaign_recipients (workspace_id, batch_id, client_id) ON DELETE CASCADE
);

CREATE FUNCTION campaign_flow_reached_count() RETURNS trigger AS $$
BEGIN
    INSERT INTO campaign_batch_counts (workspace_id, batch_id, key, n)
    SELECT workspace_id, batch_id, 'step:' || step_key, count(*) FROM new_rows
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (workspace_id, batch_id, key) DO UPDATE SET n = campaign_batch_counts.n + excluded.n;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER campaign_flow_reached_count AFTER INSERT ON campaign_flow_reached
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION campaign_flow_reached_count();
