-- The messaging core (issue 11): a workspace's Twilio channel, its messages, the status
-- callbacks that arrive before their send is recorded, per-sender send throttles, and the
-- WhatsApp templates synced from the provider.

-- Where a client came from: typed in, an import, or a message from an unknown number.
ALTER TABLE clients ADD COLUMN source text NOT NULL DEFAULT 'manual'
    CHECK (source IN ('manual', 'import', 'inbound'));

-- One Twilio account per workspace. The auth token is sealed (ChaCha20-Poly1305 under the
-- at-rest key) and never shown again.
CREATE TABLE twilio_settings (
    workspace_id          bigint PRIMARY KEY REFERENCES workspaces (id),
    account_sid           text NOT NULL CHECK (account_sid ~ '^AC[0-9a-fA-F]{32}$'),
    auth_token_sealed     bytea NOT NULL,
    -- E.164 numbers, the first is the default WhatsApp sender.
    whatsapp_from         text[] NOT NULL DEFAULT '{}',
    sms_from              text CHECK (sms_from ~ '^\+[1-9][0-9]{6,14}$'),
    messaging_service_sid text CHECK (messaging_service_sid ~ '^MG[0-9a-fA-F]{32}$'),
    -- Messages per second per sender.
    whatsapp_rate         double precision NOT NULL DEFAULT 10 CHECK (whatsapp_rate > 0 AND whatsapp_rate <= 1000),
    sms_rate              double precision NOT NULL DEFAULT 1 CHECK (sms_rate > 0 AND sms_rate <= 1000),
    -- A message from a number no client has: create a client, or ignore it.
    inbound_unknown       text NOT NULL DEFAULT 'create' CHECK (inbound_unknown IN ('create', 'ignore')),
    updated_at            timestamptz NOT NULL DEFAULT now()
);

-- WhatsApp templates as the provider last described them (`provider_id`: Twilio's Content SID).
CREATE TABLE whatsapp_templates (
    workspace_id     bigint NOT NULL REFERENCES workspaces (id),
    id               bigint GENERATED ALWAYS AS IDENTITY,
    provider_id      text NOT NULL,
    name             text NOT NULL,
    language         text NOT NULL DEFAULT '',
    body             text NOT NULL DEFAULT '',
    -- Placeholder numbers in order ("1", "2", …) with the provider's sample values.
    variables        jsonb NOT NULL DEFAULT '{}',
    media            text[] NOT NULL DEFAULT '{}',
    -- Quick-reply buttons: [{"id": "...", "title": "..."}].
    buttons          jsonb NOT NULL DEFAULT '[]',
    approval_status  text NOT NULL DEFAULT 'unsubmitted'
        CHECK (approval_status IN ('approved', 'pending', 'rejected', 'paused', 'disabled', 'unsubmitted')),
    category         text NOT NULL DEFAULT '',
    rejection_reason text NOT NULL DEFAULT '',
    synced_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    UNIQUE (workspace_id, provider_id)
);
CREATE INDEX whatsapp_templates_list_idx ON whatsapp_templates (workspace_id, approval_status, lower(name), id);

-- Every WhatsApp and SMS message, both directions. An outbound message is written `queued`
-- with its send job in one transaction; the job claims it (`sending`, with a lease), calls
-- the provider and records the provider's id. A `sending` row whose lease ran out is
-- reconciled with the provider, never resent blindly.
CREATE TABLE messages (
    workspace_id    bigint NOT NULL REFERENCES workspaces (id),
    id              bigint GENERATED ALWAYS AS IDENTITY,
    client_id       bigint,
    channel         text NOT NULL CHECK (channel IN ('whatsapp', 'sms')),
    direction       text NOT NULL CHECK (direction IN ('outbound', 'inbound')),
    provider_id     text,
    sender          text NOT NULL CHECK (length(sender) BETWEEN 1 AND 64),
    recipient       text NOT NULL CHECK (length(recipient) BETWEEN 1 AND 64),
    body            text NOT NULL DEFAULT '' CHECK (length(body) <= 10000),
    template_id     bigint,
    variables       jsonb NOT NULL DEFAULT '{}',
    -- A quick-reply button's payload (inbound), kept for flows and campaign replies.
    button_payload  text,
    status          text NOT NULL CHECK (status IN
        ('queued', 'sending', 'accepted', 'sent', 'delivered', 'read', 'undelivered', 'failed', 'unknown', 'received')),
    error_code      integer,
    error_message   text,
    created_by      bigint,
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- When the claimed send's lease runs out, and when that attempt started (the lower
    -- bound of the provider lookup that reconciles it).
    lease_until     timestamptz,
    attempt_at      timestamptz,
    sent_at         timestamptz,
    delivered_at    timestamptz,
    read_at         timestamptz,
    failed_at       timestamptz,
    PRIMARY KEY (workspace_id, id),
    UNIQUE (workspace_id, provider_id),
    FOREIGN KEY (workspace_id, client_id) REFERENCES clients (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, template_id) REFERENCES whatsapp_templates (workspace_id, id)
);
CREATE INDEX messages_client_idx ON messages (workspace_id, client_id, created_at DESC, id DESC);
CREATE INDEX messages_stuck_idx ON messages (lease_until) WHERE status = 'sending';

-- The order a message's status may move in (messaging::MessageStatus::rank): a callback
-- only moves a message to a higher rank, so duplicates and late arrivals change nothing.
CREATE FUNCTION message_status_rank(status text) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE status
        WHEN 'queued' THEN 0 WHEN 'sending' THEN 1 WHEN 'unknown' THEN 1 WHEN 'accepted' THEN 2
        WHEN 'sent' THEN 3 WHEN 'delivered' THEN 4 WHEN 'read' THEN 5
        WHEN 'undelivered' THEN 6 WHEN 'failed' THEN 6 WHEN 'received' THEN 7 END
$$;

-- Status callbacks for a provider id not recorded yet (the callback can beat the send's
-- commit, or the worker died before recording it). Applied and deleted when the id is
-- recorded; both sides take the same advisory lock, so none slips between them.
CREATE TABLE early_status_callbacks (
    workspace_id  bigint NOT NULL REFERENCES workspaces (id),
    id            bigint GENERATED ALWAYS AS IDENTITY,
    provider_id   text NOT NULL,
    status        text NOT NULL,
    error_code    integer,
    error_message text,
    received_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id)
);
CREATE INDEX early_status_callbacks_sid_idx ON early_status_callbacks (workspace_id, provider_id);

-- Per-sender send rate shared by every instance: GCRA's theoretical arrival time.
CREATE TABLE send_throttles (
    workspace_id bigint NOT NULL REFERENCES workspaces (id),
    sender       text NOT NULL,
    tat          timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, sender)
);
