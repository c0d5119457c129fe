DROP TRIGGER communication_counts_delete ON communications;
DROP TRIGGER communication_counts_insert ON communications;
DROP FUNCTION communication_counts_apply();
DROP TRIGGER client_counts_delete ON clients;
DROP TRIGGER client_counts_update ON clients;
DROP TRIGGER client_counts_insert ON clients;
DROP FUNCTION client_counts_apply();
DROP TABLE communication_counts;
DROP TABLE client_counts;
