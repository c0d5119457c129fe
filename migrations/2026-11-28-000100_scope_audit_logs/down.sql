DROP INDEX audit_logs_actor_idx;
CREATE INDEX audit_logs_actor_idx ON audit_logs (workspace_id, actor_user_id, created_at DESC);
DROP INDEX audit_logs_subject_user_idx;
DROP INDEX audit_logs_client_id_idx;
ALTER TABLE audit_logs DROP COLUMN subject_user_id, DROP COLUMN client_id;
