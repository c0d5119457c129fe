-- Issue 19.18: the notification kinds a user turned off (a row = off; every kind is on by
-- default), and the notifications that come from rows whatever path writes them (a send
-- that failed, a campaign recipient that failed, an import that finished), each collapsed:
-- while the user has an unread one of the same kind and link, a repeat updates it.
CREATE TABLE notification_mutes (
    workspace_id bigint NOT NULL,
    user_id      bigint NOT NULL,
    kind         text NOT NULL CHECK (length(kind) BETWEEN 1 AND 40),
    PRIMARY KEY (workspace_id, user_id, kind),
    FOREIGN KEY (workspace_id, user_id) REFERENCES users (workspace_id, id) ON DELETE CASCADE
);

-- Tells `target_user` (skipped when deactivated or when they turned the kind off): updates
-- their unread notification of this kind and link, or adds one and writes their `badge`
-- live event. True when one was added.
CREATE FUNCTION notify_collapsed(ws bigint, target_user bigint, note_kind text, note_title text, note_body text, note_link text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    unread bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM users u WHERE u.workspace_id = ws AND u.id = target_user AND u.active)
       OR EXISTS (SELECT 1 FROM notification_mutes m WHERE m.workspace_id = ws AND m.user_id = target_user AND m.kind = note_kind) THEN
        RETURN false;
    END IF;
    UPDATE notifications SET title = left(note_title, 200), body = left(note_body, 10000), created_at = now()
    WHERE workspace_id = ws AND user_id = target_user AND kind = note_kind AND link = note_link AND read_at IS NULL;
    IF FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO notifications (workspace_id, user_id, kind, title, body, link)
    VALUES (ws, target_user, note_kind, left(note_title, 200), left(note_body, 10000), note_link);
    SELECT count(*) INTO unread FROM notifications WHERE workspace_id = ws AND user_id = target_user AND read_at IS NULL;
    PERFORM emit_event(ws, 'badge', NULL, NULL, target_user, jsonb_build_object('notifications', unread));
    RETURN true;
END
$$;

-- A message someone sent by hand (not a campaign's) that failed or was not delivered: its
-- sender is told, one notification per client while unread.
CREATE FUNCTION notify_failed_sends() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT n.workspace_id, n.created_by, n.client_id, n.channel, n.error_code, n.error_message, c.name AS client_name
        FROM new_rows n
        JOIN old_rows o ON o.workspace_id = n.workspace_id AND o.id = n.id
        JOIN clients c ON c.workspace_id = n.workspace_id AND c.id = n.client_id
        WHERE n.direction = 'outbound' AND n.batch_id IS NULL AND n.created_by IS NOT NULL
          AND n.status IN ('failed', 'undelivered') AND o.status NOT IN ('failed', 'undelivered')
        ORDER BY n.workspace_id, n.id
    LOOP
        PERFORM notify_collapsed(r.workspace_id, r.created_by, 'send_failed',
            'A message to ' || r.client_name || ' was not delivered',
            CASE r.channel WHEN 'whatsapp' THEN 'WhatsApp' WHEN 'sms' THEN 'SMS' ELSE r.channel END || ': '
              || coalesce(r.error_message, 'the provider gave no reason')
              || coalesce(' (error ' || r.error_code || ')', '') || '.',
            '/clients/' || r.client_id);
    END LOOP;
    RETURN NULL;
END
$$;
CREATE TRIGGER messages_notify_failed AFTER UPDATE ON messages
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION notify_failed_sends();

-- Campaign recipients that failed (not those cancelled by completing the campaign): every
-- active admin is told, one notification per batch while unread, with the batch's count.
CREATE FUNCTION notify_failed_recipients() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
    admin bigint;
    failed bigint;
BEGIN
    FOR r IN
        SELECT n.workspace_id, n.batch_id, b.campaign_id, b.channel, c.name AS campaign_name
        FROM new_rows n
        JOIN old_rows o ON o.workspace_id = n.workspace_id AND o.batch_id = n.batch_id AND o.client_id = n.client_id
        JOIN campaign_batches b ON b.workspace_id = n.workspace_id AND b.id = n.batch_id
        JOIN campaigns c ON c.workspace_id = b.workspace_id AND c.id = b.campaign_id
        WHERE n.status = 'failed' AND o.status <> 'failed'
          AND n.error_message IS DISTINCT FROM 'Cancelled: the campaign was completed.'
        GROUP BY n.workspace_id, n.batch_id, b.campaign_id, b.channel, c.name
        ORDER BY n.workspace_id, n.batch_id
    LOOP
        SELECT count(*) INTO failed FROM campaign_recipients
        WHERE workspace_id = r.workspace_id AND batch_id = r.batch_id AND status = 'failed';
        FOR admin IN
            SELECT u.id FROM users u WHERE u.workspace_id = r.workspace_id AND u.role = 'admin' AND u.active ORDER BY u.id
        LOOP
            PERFORM notify_collapsed(r.workspace_id, admin, 'campaign_failed',
                'Failed sends in campaign ' || r.campaign_name,
                failed || ' recipient' || CASE WHEN failed = 1 THEN '' ELSE 's' END || ' of batch #' || r.batch_id || ' failed.',
                '/campaigns/' || r.campaign_id || '/'
                  || CASE r.channel WHEN 'whatsapp' THEN 'whatsapp-messages' WHEN 'sms' THEN 'sms-messages' ELSE 'emails' END
                  || '/' || r.batch_id || '/recipients?status=failed');
        END LOOP;
    END LOOP;
    RETURN NULL;
END
$$;
CREATE TRIGGER campaign_recipients_notify_failed AFTER UPDATE ON campaign_recipients
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION notify_failed_recipients();

-- An import that finished (done or failed): the user who started it is told.
CREATE FUNCTION notify_import_finished() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM notify_collapsed(NEW.workspace_id, NEW.user_id, 'import_finished',
        CASE NEW.status WHEN 'done' THEN 'Import finished: ' ELSE 'Import failed: ' END || NEW.filename,
        CASE NEW.status
            WHEN 'done' THEN NEW.rows_created || ' created, ' || NEW.rows_updated || ' updated, ' || NEW.rows_rejected || ' rejected.'
            ELSE coalesce(NEW.error, 'Nothing was imported.') END,
        '/imports/' || NEW.id);
    RETURN NULL;
END
$$;
CREATE TRIGGER imports_notify_finished AFTER UPDATE OF status ON imports
    FOR EACH ROW WHEN (NEW.status IN ('done', 'failed') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION notify_import_finished();
