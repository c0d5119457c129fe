DROP TABLE import_errors;
DROP TABLE import_chunks;
ALTER TABLE clients DROP COLUMN import_id;
DROP TABLE imports;
