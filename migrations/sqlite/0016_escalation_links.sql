-- The customer's self-escalation links: one row per link the helpdesk asked for. The token is
-- 256 random bits shown once (in the URL) and kept only as its SHA-256 digest, like admin keys
-- and refresh tokens. A link is bound to one ticket and the customer that owns it. The first
-- answer is kept (`answer`, JSON) so a second submit, or a later visit, replays it; `used_at`
-- set means the link has been answered.
CREATE TABLE escalation_links (
    id          TEXT PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    ticket_id   TEXT NOT NULL REFERENCES tickets (id),
    customer_id TEXT NOT NULL REFERENCES customers (id),
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    answer      TEXT,
    incident_id TEXT REFERENCES incidents (id)
);

CREATE INDEX escalation_links_ticket ON escalation_links (ticket_id);
