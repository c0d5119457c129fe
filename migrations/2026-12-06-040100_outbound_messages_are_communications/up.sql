-- A message is a communication, in both directions (issue 19 item 6; PRODUCT.md). Inbound
-- messages already write a communications row (kind 'whatsapp' / 'sms') as they are
-- recorded; an outbound message now does so when the provider accepts it (its provider id
-- recorded, or a message inserted with one), whatever sent it: the client page, a chat
-- reply, a campaign batch, reconciliation. A send refused before the provider took it is no
-- communication. So the daily status rule, the client list's last contacted and the
-- dashboard's "Communications, last 7 days" (the communication_counts trigger) all count
-- both directions, from the one table.

CREATE FUNCTION outbound_message_communication() RETURNS trigger AS $$
BEGIN
    INSERT INTO communications (workspace_id, client_id, user_id, kind, occurred_at, notes)
    VALUES (NEW.workspace_id, NEW.client_id, NEW.created_by, NEW.channel, now(), left(coalesce(NEW.body, ''), 10000));
    UPDATE clients SET last_contacted_at = GREATEST(last_contacted_at, now())
    WHERE workspace_id = NEW.workspace_id AND id = NEW.client_id;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER outbound_message_communication_insert AFTER INSERT ON messages
    FOR EACH ROW WHEN (NEW.direction = 'outbound' AND NEW.client_id IS NOT NULL AND NEW.provider_id IS NOT NULL)
    EXECUTE FUNCTION outbound_message_communication();
CREATE TRIGGER outbound_message_communication_update AFTER UPDATE OF provider_id ON messages
    FOR EACH ROW WHEN (NEW.direction = 'outbound' AND NEW.client_id IS NOT NULL AND OLD.provider_id IS NULL AND NEW.provider_id IS NOT NULL)
    EXECUTE FUNCTION outbound_message_communication();

-- The outbound messages sent so far count too, at the time their send was attempted.
INSERT INTO communications (workspace_id, client_id, user_id, kind, occurred_at, notes)
SELECT workspace_id, client_id, created_by, channel, coalesce(attempt_at, sent_at, created_at), left(coalesce(body, ''), 10000)
FROM messages WHERE direction = 'outbound' AND client_id IS NOT NULL AND provider_id IS NOT NULL;
UPDATE clients c SET last_contacted_at = GREATEST(c.last_contacted_at, m.at)
FROM (SELECT workspace_id, client_id, max(coalesce(attempt_at, sent_at, created_at)) AS at FROM messages
      WHERE direction = 'outbound' AND client_id IS NOT NULL AND provider_id IS NOT NULL GROUP BY 1, 2) m
WHERE c.workspace_id = m.workspace_id AND c.id = m.client_id AND c.last_contacted_at IS DISTINCT FROM GREATEST(c.last_contacted_at, m.at);
