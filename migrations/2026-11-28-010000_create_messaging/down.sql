DROP TABLE send_throttles;
DROP TABLE early_status_callbacks;
DROP TABLE messages;
DROP FUNCTION message_status_rank(text);
DROP TABLE whatsapp_templates;
DROP TABLE twilio_settings;
ALTER TABLE clients DROP COLUMN source;
