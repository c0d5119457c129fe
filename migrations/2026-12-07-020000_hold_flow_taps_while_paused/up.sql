-- A flow tap while its campaign is paused (issue 19 item 8): the answer is recorded with
-- `held_at` set, and resuming the campaign sends the step it leads to (then clears it), in
-- the resume's transaction under the campaign's row lock, so at most once. Completing the
-- campaign clears it unsent.
ALTER TABLE campaign_flow_answers ADD COLUMN held_at timestamptz;
CREATE INDEX campaign_flow_answers_held_idx ON campaign_flow_answers (workspace_id, batch_id) WHERE held_at IS NOT NULL;

-- Answers taken while paused before this column existed: held, if their campaign is still paused.
UPDATE campaign_flow_answers a SET held_at = a.created_at
FROM campaign_batches b JOIN campaigns c ON c.workspace_id = b.workspace_id AND c.id = b.campaign_id
WHERE b.workspace_id = a.workspace_id AND b.id = a.batch_id AND c.status = 'paused'
  AND a.next_step IS NOT NULL AND a.sent_message_id IS NULL;
