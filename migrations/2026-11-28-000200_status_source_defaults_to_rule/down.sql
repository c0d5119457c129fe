ALTER TABLE clients ALTER COLUMN status_source SET DEFAULT 'hand';
