-- A short public number per session, so one session can be revoked by it (the key hash
-- stays out of pages and URLs).
ALTER TABLE sessions ADD COLUMN id BIGSERIAL NOT NULL UNIQUE;
