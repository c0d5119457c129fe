DROP INDEX campaign_flow_answers_held_idx;
ALTER TABLE campaign_flow_answers DROP COLUMN held_at;
