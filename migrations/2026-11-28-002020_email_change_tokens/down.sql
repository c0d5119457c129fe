DELETE FROM auth_tokens WHERE purpose = 'email';
ALTER TABLE auth_tokens DROP CONSTRAINT auth_tokens_new_email_check;
ALTER TABLE auth_tokens DROP COLUMN new_email;
ALTER TABLE auth_tokens DROP CONSTRAINT auth_tokens_purpose_check;
ALTER TABLE auth_tokens ADD CONSTRAINT auth_tokens_purpose_check CHECK (purpose IN ('reset', 'invite'));
