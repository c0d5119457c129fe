DELETE FROM communications WHERE kind IN ('whatsapp', 'sms');
ALTER TABLE communications DROP CONSTRAINT communications_kind_check;
ALTER TABLE communications ADD CONSTRAINT communications_kind_check
    CHECK (kind IN ('call', 'email', 'meeting', 'note'));
