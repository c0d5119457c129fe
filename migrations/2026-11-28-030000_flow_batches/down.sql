DROP TABLE campaign_flow_reached;
DROP FUNCTION campaign_flow_reached_count();
DROP TABLE campaign_flow_answers;
DELETE FROM campaign_batch_counts WHERE key LIKE 'step:%';
