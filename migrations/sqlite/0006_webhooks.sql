-- Outbound webhooks for the helpdesk: endpoints, and a durable outbox of signed deliveries
-- drained like the page outbox (leases, backoff, give-up).

CREATE TABLE webhook_endpoints (
    id          TEXT PRIMARY KEY,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,       -- HMAC-SHA256 key; needed in clear to sign
    events      TEXT NOT NULL,       -- JSON array of event types, or ["*"]
    created_at  BIGINT NOT NULL,
    disabled_at BIGINT
);

CREATE TABLE webhook_deliveries (
    id          TEXT PRIMARY KEY,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id),
    event_id    TEXT NOT NULL,       -- the timeline event: receivers deduplicate on it
    event_type  TEXT NOT NULL,
    payload     TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts    BIGINT NOT NULL DEFAULT 0,
    due_at      BIGINT NOT NULL,
    give_up_at  BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    last_status BIGINT,
    last_error  TEXT,
    created_at  BIGINT NOT NULL,
    sent_at     BIGINT,
    updated_at  BIGINT NOT NULL,
    UNIQUE (endpoint_id, event_id)
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, due_at);
