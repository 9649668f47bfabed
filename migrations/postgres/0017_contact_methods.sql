-- Contact methods, notification rules, and the outbox generalised from push devices to any
-- channel (push, sms, voice, email).
-- A staff user's ways to be reached besides push: an SMS number, a voice number, an e-mail
-- address. Each is verified before it is ever paged: a 6-digit code is sent through it and
-- entered back; the code is stored hashed (SHA-256 of the method id and the code), expires
-- after 10 minutes and allows 5 attempts. A method a provider calls dead (Twilio 21211/21614)
-- is disabled, not deleted, so the person sees why it stopped.
CREATE TABLE contact_methods (
    id                TEXT PRIMARY KEY,
    user_id           TEXT NOT NULL REFERENCES users (id),
    kind              TEXT NOT NULL CHECK (kind IN ('sms', 'voice', 'email')),
    address           TEXT NOT NULL,
    verified_at       BIGINT,
    disabled_at       BIGINT,
    disabled_reason   TEXT,
    code_hash         TEXT,
    code_expires_at   BIGINT,
    code_attempts     BIGINT NOT NULL DEFAULT 0,
    -- Deleting keeps the row (past deliveries name it) and frees the address for re-adding.
    deleted_at        BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE UNIQUE INDEX contact_methods_unique ON contact_methods (user_id, kind, address)
    WHERE deleted_at IS NULL;
CREATE INDEX contact_methods_address ON contact_methods (kind, address);

-- How one person is reached inside an escalation step's window: a JSON list of
-- {method, method_id?, delay_minutes}. `subject` is a user id, or 'default' for the rule set
-- the admin sets for everyone who set none. JSON rather than rows because the list is read
-- and replaced whole; a rule naming a method that was deleted is skipped when paging.
CREATE TABLE notification_rules (
    subject    TEXT PRIMARY KEY,
    rules      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- One outbox for every channel. A push delivery names a device (and platform); any other
-- names a contact method. PostgreSQL drops NOT NULL in place; SQLite cannot, so its
-- migration rebuilds the table. `reply_code` is the short code an SMS page carries
-- ("reply ACK 4k7q"); `provider_status` is what the provider's status callback said last.
ALTER TABLE deliveries ALTER COLUMN device_id DROP NOT NULL;
ALTER TABLE deliveries ALTER COLUMN platform DROP NOT NULL;
ALTER TABLE deliveries ADD COLUMN channel TEXT NOT NULL DEFAULT 'push'
    CHECK (channel IN ('push', 'sms', 'voice', 'email'));
ALTER TABLE deliveries ADD COLUMN contact_method_id TEXT REFERENCES contact_methods (id);
ALTER TABLE deliveries ADD COLUMN reply_code TEXT;
ALTER TABLE deliveries ADD COLUMN provider_status TEXT;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_one_recipient
    CHECK ((channel = 'push') = (device_id IS NOT NULL)
       AND (channel = 'push') = (contact_method_id IS NULL));
CREATE INDEX deliveries_provider_message ON deliveries (provider_message_id)
    WHERE provider_message_id IS NOT NULL;
CREATE INDEX deliveries_reply_code ON deliveries (reply_code) WHERE reply_code IS NOT NULL;
