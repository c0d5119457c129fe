-- A client's phone as people write it (`+44 20 7946 0000`), computed by the app with
-- libphonenumber when the phone is written, so a list of 50 clients does not format 50
-- numbers per request (issue 20: a fifth of the list's CPU). NULL means "not computed": the
-- page formats the number itself, so rows written without it (older rows, SQL by hand) still
-- show right. A write that changes the phone without giving its display form drops the old
-- one, so a stale display can never be shown.
ALTER TABLE clients ADD COLUMN phone_formatted text CHECK (length(phone_formatted) <= 40);

CREATE FUNCTION clients_phone_formatted_follows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.phone IS DISTINCT FROM OLD.phone AND NEW.phone_formatted IS NOT DISTINCT FROM OLD.phone_formatted THEN
    NEW.phone_formatted := NULL;
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER clients_phone_formatted_follows BEFORE UPDATE OF phone ON clients
  FOR EACH ROW EXECUTE FUNCTION clients_phone_formatted_follows();
