ALTER TABLE clients DROP COLUMN tag_ids;
