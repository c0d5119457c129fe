DROP INDEX clients_import_idx;
