-- On-call: schedules, escalation policies, responder unavailability, and the escalation state
-- each incident carries.

CREATE TABLE schedules (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    role       TEXT UNIQUE,          -- 'primary', 'secondary', …: how policies refer to it by role
    definition TEXT NOT NULL,        -- the validated schedule, JSON
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE escalation_policies (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    tier_id     TEXT REFERENCES tiers (id),
    customer_id TEXT REFERENCES customers (id),
    definition  TEXT NOT NULL,       -- the validated policy, JSON
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    CHECK ((tier_id IS NULL) <> (customer_id IS NULL))
);

CREATE UNIQUE INDEX escalation_policies_tier ON escalation_policies (tier_id);
CREATE UNIQUE INDEX escalation_policies_customer ON escalation_policies (customer_id);

CREATE TABLE unavailability (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    starts_at   BIGINT NOT NULL,
    ends_at     BIGINT NOT NULL,
    delegate_id TEXT REFERENCES users (id),
    created_at  BIGINT NOT NULL,
    CHECK (ends_at > starts_at)
);

CREATE INDEX unavailability_user ON unavailability (user_id, ends_at);

-- The policy in force when the incident opened, so editing a policy does not disturb pages
-- already under way.
ALTER TABLE incidents ADD COLUMN policy TEXT;
ALTER TABLE incidents ADD COLUMN unanswered_at BIGINT;
