-- Calendar feeds: a secret URL per person (their shifts) or per schedule (everyone's), that
-- phone and desktop calendars subscribe to. Only a SHA-256 digest of the 256-bit token is kept,
-- as for admin keys; a revoked feed keeps its row so the list and the audit log can say so.
-- A feed goes with its user or schedule: removing a schedule (say, pruned by configuration
-- as code) must not be blocked by a calendar subscription, and its URL then answers 404.
CREATE TABLE calendar_feeds (
    id          TEXT PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    user_id     TEXT REFERENCES users (id) ON DELETE CASCADE,
    schedule_id TEXT REFERENCES schedules (id) ON DELETE CASCADE,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT,
    CHECK ((user_id IS NULL) <> (schedule_id IS NULL))
);

CREATE INDEX calendar_feeds_user ON calendar_feeds (user_id);
CREATE INDEX calendar_feeds_schedule ON calendar_feeds (schedule_id);
