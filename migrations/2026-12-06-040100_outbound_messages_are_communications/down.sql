DROP TRIGGER outbound_message_communication_update ON messages;
DROP TRIGGER outbound_message_communication_insert ON messages;
DROP FUNCTION outbound_message_communication();
-- The communications the outbound messages wrote (matched by client, channel, author and
-- text; last_contacted_at keeps the times they set).
DELETE FROM communications c USING messages m
WHERE m.direction = 'outbound' AND m.provider_id IS NOT NULL AND c.workspace_id = m.workspace_id AND c.client_id = m.client_id
  AND c.kind = m.channel AND c.user_id IS NOT DISTINCT FROM m.created_by AND c.notes = left(coalesce(m.body, ''), 10000)
  AND c.occurred_at >= m.created_at;
