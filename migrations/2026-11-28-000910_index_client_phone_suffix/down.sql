DROP INDEX clients_phone_suffix_idx;
