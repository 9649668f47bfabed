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
-- names a contact method. SQLite cannot drop NOT NULL from `device_id`, so the table is
-- rebuilt: created under a new name with the same columns (plus the new ones), filled from
-- the old one, the old one dropped (no table references `deliveries`, so foreign keys stay
-- satisfied) and the new one renamed; then its indexes are made again. A sibling table for
-- contact deliveries would have split the one claim query (and its benchmark) in two.
-- `reply_code` is the short code an SMS page carries ("reply ACK 4k7q"); `provider_status`
-- is what the provider's status callback said last.
CREATE TABLE deliveries_new (
    id                  TEXT PRIMARY KEY,
    incident_id         TEXT NOT NULL REFERENCES incidents (id),
    user_id             TEXT NOT NULL REFERENCES users (id),
    device_id           TEXT REFERENCES devices (id),
    platform            TEXT,
    kind                TEXT NOT NULL CHECK (kind IN ('page', 'update')),
    escalation_pass     BIGINT NOT NULL,
    escalation_step     BIGINT NOT NULL,
    title               TEXT NOT NULL,
    body                TEXT NOT NULL,
    state               TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'cancelled')),
    attempts            BIGINT NOT NULL DEFAULT 0,
    due_at              BIGINT NOT NULL,
    expires_at          BIGINT NOT NULL,   -- end of the acknowledgement window
    give_up_at          BIGINT NOT NULL,
    lease_owner         TEXT,
    lease_until         BIGINT,
    provider_message_id TEXT,
    last_error          TEXT,
    created_at          BIGINT NOT NULL,
    sent_at             BIGINT,
    updated_at          BIGINT NOT NULL,
    first_page          BIGINT NOT NULL DEFAULT 0,
    channel             TEXT NOT NULL DEFAULT 'push'
                        CHECK (channel IN ('push', 'sms', 'voice', 'email')),
    contact_method_id   TEXT REFERENCES contact_methods (id),
    reply_code          TEXT,
    provider_status     TEXT,
    CHECK ((channel = 'push') = (device_id IS NOT NULL)
       AND (channel = 'push') = (contact_method_id IS NULL))
);
INSERT INTO deliveries_new (id, incident_id, user_id, device_id, platform, kind,
    escalation_pass, escalation_step, title, body, state, attempts, due_at, expires_at,
    give_up_at, lease_owner, lease_until, provider_message_id, last_error, created_at, sent_at,
    updated_at, first_page)
SELECT id, incident_id, user_id, device_id, platform, kind, escalation_pass, escalation_step,
    title, body, state, attempts, due_at, expires_at, give_up_at, lease_owner, lease_until,
    provider_message_id, last_error, created_at, sent_at, updated_at, first_page
FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_new RENAME TO deliveries;
CREATE INDEX deliveries_due ON deliveries (state, due_at);
CREATE INDEX deliveries_incident ON deliveries (incident_id);
CREATE INDEX deliveries_lease ON deliveries (lease_owner) WHERE lease_owner IS NOT NULL;
CREATE INDEX deliveries_claim_order ON deliveries (state, first_page, due_at);
CREATE INDEX deliveries_provider_message ON deliveries (provider_message_id)
    WHERE provider_message_id IS NOT NULL;
CREATE INDEX deliveries_reply_code ON deliveries (reply_code) WHERE reply_code IS NOT NULL;
