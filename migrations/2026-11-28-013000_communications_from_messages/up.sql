-- An inbound WhatsApp or SMS message counts as a communication (issue 11 part 6): it is
-- written as a communications row of kind 'whatsapp' / 'sms' (no user), so the daily status
-- rule, the dashboard's counters and last_contacted_at treat it like a logged call.
ALTER TABLE communications DROP CONSTRAINT communications_kind_check;
ALTER TABLE communications ADD CONSTRAINT communications_kind_check
    CHECK (kind IN ('call', 'email', 'meeting', 'note', 'whatsapp', 'sms'));
