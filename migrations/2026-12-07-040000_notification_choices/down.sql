DROP TRIGGER imports_notify_finished ON imports;
DROP FUNCTION notify_import_finished();
DROP TRIGGER campaign_recipients_notify_failed ON campaign_recipients;
DROP FUNCTION notify_failed_recipients();
DROP TRIGGER messages_notify_failed ON messages;
DROP FUNCTION notify_failed_sends();
DROP FUNCTION notify_collapsed(bigint, bigint, text, text, text, text);
DROP TABLE notification_mutes;
