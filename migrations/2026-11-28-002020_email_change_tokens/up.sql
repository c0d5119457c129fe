-- Changing one's email: the new address waits on a single-use token mailed to it, and
-- replaces the old one only when the link is used.
ALTER TABLE auth_tokens DROP CONSTRAINT auth_tokens_purpose_check;
ALTER TABLE auth_tokens ADD CONSTRAINT auth_tokens_purpose_check CHECK (purpose IN ('reset', 'invite', 'email'));
ALTER TABLE auth_tokens ADD COLUMN new_email text;
ALTER TABLE auth_tokens ADD CONSTRAINT auth_tokens_new_email_check CHECK ((purpose = 'email') = (new_email IS NOT NULL));
