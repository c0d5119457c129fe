-- The recipients dashboard live over server-sent events (issue 13 part 4): whatever moves a
-- batch's counters (a recipient inserted, updated or deleted; a flow step reached) or the
-- batch's own status announces `NOTIFY switchboard_batches, '<workspace_id>:<batch_id>'`,
-- once per batch a statement touched (NOTIFY also folds identical payloads within a
-- transaction). No `events` row: dispatch and status callbacks move thousands of counters a
-- second; the listeners coalesce these per batch instead (src/events/hub.rs).
CREATE FUNCTION campaign_batches_announce() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM pg_notify('switchboard_batches', t.workspace_id || ':' || t.batch_id)
        FROM (SELECT DISTINCT workspace_id, batch_id FROM old_rows) t;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        PERFORM pg_notify('switchboard_batches', t.workspace_id || ':' || t.batch_id)
        FROM (SELECT DISTINCT workspace_id, batch_id FROM new_rows) t;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER campaign_recipients_announce_insert AFTER INSERT ON campaign_recipients
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION campaign_batches_announce();
CREATE TRIGGER campaign_recipients_announce_update AFTER UPDATE ON campaign_recipients
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION campaign_batches_announce();
CREATE TRIGGER campaign_recipients_announce_delete AFTER DELETE ON campaign_recipients
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION campaign_batches_announce();
CREATE TRIGGER campaign_flow_reached_announce AFTER INSERT ON campaign_flow_reached
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION campaign_batches_announce();

-- A batch finishing (done, cancelled) or starting: the page stops or starts refreshing.
CREATE FUNCTION campaign_batch_status_announce() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('switchboard_batches', NEW.workspace_id || ':' || NEW.id);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER campaign_batch_status_announce AFTER UPDATE OF status ON campaign_batches
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION campaign_batch_status_announce();
