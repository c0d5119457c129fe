-- A new client's status follows the daily rule unless a person picks one: rows inserted
-- without saying so (seed, raw SQL) are no longer hand-set for the grace period.
ALTER TABLE clients ALTER COLUMN status_source SET DEFAULT 'rule';
