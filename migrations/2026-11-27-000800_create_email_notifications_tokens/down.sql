DROP TABLE rate_events;
DROP TABLE auth_tokens;
DROP TABLE notifications;
DROP TABLE smtp_settings;
