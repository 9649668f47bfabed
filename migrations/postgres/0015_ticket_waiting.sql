-- Two-way SLA clock: the stretches in which a ticket waited on its customer. While a stretch
-- is open (resumed_at IS NULL) the resolution clock of the ticket's incidents is paused.
-- At most one open stretch per ticket: the partial unique index makes a second pause a
-- conflict even under concurrent requests.
CREATE TABLE ticket_pauses (
    id              TEXT PRIMARY KEY,
    ticket_id       TEXT NOT NULL REFERENCES tickets (id),
    incident_id     TEXT REFERENCES incidents (id),
    paused_at       BIGINT NOT NULL,
    paused_by       TEXT NOT NULL,
    reason          TEXT,
    resumed_at      BIGINT,
    resumed_by      TEXT,
    resumed_because TEXT CHECK (resumed_because IN ('agent', 'customer', 'resolved'))
);

CREATE UNIQUE INDEX ticket_pauses_open ON ticket_pauses (ticket_id) WHERE resumed_at IS NULL;
CREATE INDEX ticket_pauses_ticket ON ticket_pauses (ticket_id, paused_at);
