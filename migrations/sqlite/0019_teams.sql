-- Teams and the round-robin escalation step.
--
-- A team is an ordered list of staff users. `last_user_id` and `last_position` are the
-- round-robin pointer: the member picked last and where they stood then (the next pick starts
-- after them; after them in position if they have left). `picks` counts the pointer's moves:
-- a pick advances it only if it is still the count it read (compare-and-set), so two gateways
-- picking for two incidents at once never hand both to the same member.
CREATE TABLE teams (
    id            TEXT PRIMARY KEY,   -- a slug chosen by the admin ('gold'): policies name it
    name          TEXT NOT NULL,
    last_user_id  TEXT,
    last_position BIGINT,
    picks         BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE team_members (
    team_id  TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    user_id  TEXT NOT NULL REFERENCES users (id),
    PRIMARY KEY (team_id, user_id),
    UNIQUE (team_id, position)
);

CREATE INDEX team_members_user ON team_members (user_id);

-- The member a round-robin step picked for an incident, once per (incident, pass, step,
-- team): a retry or another gateway paging the same position reads this row instead of
-- moving the pointer again. No reference to teams: the record outlives a deleted team.
CREATE TABLE round_robin_picks (
    incident_id     TEXT NOT NULL REFERENCES incidents (id),
    escalation_pass BIGINT NOT NULL,
    escalation_step BIGINT NOT NULL,
    team_id         TEXT NOT NULL,
    user_id         TEXT NOT NULL REFERENCES users (id),
    picked_at       BIGINT NOT NULL,
    PRIMARY KEY (incident_id, escalation_pass, escalation_step, team_id)
);
