-- Panic intake: tickets, alerts (each press), incidents, their timeline, the idempotency
-- record of each press, and the outbox of page deliveries.

CREATE TABLE tickets (
    id           TEXT PRIMARY KEY,
    customer_id  TEXT NOT NULL REFERENCES customers (id),
    external_ref TEXT NOT NULL,          -- the helpdesk's reference, or PG-… for tickets we open
    subject      TEXT NOT NULL,
    priority     TEXT NOT NULL CHECK (priority IN ('P1', 'P2', 'P3', 'P4')),
    status       TEXT NOT NULL CHECK (status IN ('open', 'pending', 'resolved', 'closed')),
    source       TEXT NOT NULL CHECK (source IN ('helpdesk', 'panic')),
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    UNIQUE (customer_id, external_ref)
);

CREATE TABLE incidents (
    id                 TEXT PRIMARY KEY,
    customer_id        TEXT NOT NULL REFERENCES customers (id),
    ticket_id          TEXT NOT NULL REFERENCES tickets (id),
    tier_id            TEXT NOT NULL REFERENCES tiers (id),
    affected_service   TEXT NOT NULL,
    -- customer id + normalised service while the incident is open, NULL once resolved:
    -- the unique index makes "one open P1 per customer and service" hold under concurrency.
    open_key           TEXT UNIQUE,
    state              TEXT NOT NULL CHECK (state IN ('triggered', 'acknowledged', 'resolved')),
    summary            TEXT NOT NULL,
    alert_count        BIGINT NOT NULL DEFAULT 1,
    escalation_pass    BIGINT NOT NULL DEFAULT 0,
    escalation_step    BIGINT NOT NULL DEFAULT 0,
    next_escalation_at BIGINT,
    acknowledged_by    TEXT REFERENCES users (id),
    acknowledged_at    BIGINT,
    resolved_by        TEXT REFERENCES users (id),
    resolved_at        BIGINT,
    first_page_at      BIGINT,
    first_accepted_at  BIGINT,
    ack_due_at         BIGINT NOT NULL,
    respond_due_at     BIGINT NOT NULL,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);

CREATE INDEX incidents_customer ON incidents (customer_id, created_at);
CREATE INDEX incidents_escalation ON incidents (state, next_escalation_at);

CREATE TABLE alerts (
    id               TEXT PRIMARY KEY,
    customer_id      TEXT NOT NULL REFERENCES customers (id),
    user_id          TEXT NOT NULL REFERENCES users (id),
    device_id        TEXT NOT NULL REFERENCES devices (id),
    summary          TEXT NOT NULL,
    details          TEXT,
    affected_service TEXT NOT NULL,
    answers          TEXT NOT NULL,     -- the P1 answers, JSON
    app_local_time   TEXT,
    priority         TEXT NOT NULL,
    classification   TEXT NOT NULL,     -- matched rule or unmet criteria, JSON
    outcome          TEXT NOT NULL CHECK (outcome IN ('opened', 'joined', 'escalated', 'ticket_only')),
    ticket_id        TEXT NOT NULL REFERENCES tickets (id),
    incident_id      TEXT REFERENCES incidents (id),
    created_at       BIGINT NOT NULL
);

CREATE INDEX alerts_customer ON alerts (customer_id, created_at);

CREATE TABLE idempotency_keys (
    user_id         TEXT NOT NULL,
    idem_key        TEXT NOT NULL,
    request_digest  TEXT NOT NULL,
    response_status BIGINT,
    response_body   TEXT,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (user_id, idem_key)
);

CREATE TABLE incident_events (
    id          TEXT PRIMARY KEY,
    ticket_id   TEXT NOT NULL REFERENCES tickets (id),
    incident_id TEXT REFERENCES incidents (id),
    alert_id    TEXT,
    at          BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    actor       TEXT,
    detail      TEXT NOT NULL DEFAULT '{}'
);

CREATE INDEX incident_events_incident ON incident_events (incident_id, at);
CREATE INDEX incident_events_ticket ON incident_events (ticket_id, at);

CREATE TABLE deliveries (
    id                  TEXT PRIMARY KEY,
    incident_id         TEXT NOT NULL REFERENCES incidents (id),
    user_id             TEXT NOT NULL REFERENCES users (id),
    device_id           TEXT NOT NULL REFERENCES devices (id),
    platform            TEXT NOT NULL,
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
    updated_at          BIGINT NOT NULL
);

CREATE INDEX deliveries_due ON deliveries (state, due_at);
CREATE INDEX deliveries_incident ON deliveries (incident_id);
