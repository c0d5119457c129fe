DROP TRIGGER clients_phone_formatted_follows ON clients;
DROP FUNCTION clients_phone_formatted_follows();
ALTER TABLE clients DROP COLUMN phone_formatted;
