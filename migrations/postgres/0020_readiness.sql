-- Readiness before the crisis: shift reminders (a silent test push before each on-call
-- shift) and the readiness check's open problems.
--
-- `notices` is an outbox for what is addressed to a person's device but belongs to no
-- incident (deliveries reference an incident, and acknowledging one cancels them): the
-- silent push of a shift reminder, and the "nobody can be reached" notice to the support
-- managers. The notice worker claims rows with a lease like the dispatcher claims deliveries.
CREATE TABLE notices (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    device_id   TEXT NOT NULL REFERENCES devices (id),
    kind        TEXT NOT NULL CHECK (kind IN ('shift_reminder', 'readiness')),
    title       TEXT NOT NULL,
    body        TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts    BIGINT NOT NULL DEFAULT 0,
    due_at      BIGINT NOT NULL,
    give_up_at  BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    last_error  TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX notices_due ON notices (state, due_at);

-- One reminder per person, schedule and shift start, however many gateways plan it: the
-- primary key is the guard (the planner inserts and only the inserter queues the pushes).
CREATE TABLE shift_reminders (
    user_id     TEXT NOT NULL REFERENCES users (id),
    schedule_id TEXT NOT NULL,
    shift_start BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, schedule_id, shift_start)
);

-- A step of a Gold customer's policy that reaches nobody, now or at the next hand-off. The
-- row exists while the problem does: the check inserts it when it first sees the problem (and
-- only the inserter tells the support managers), updates `people` while it lasts, and deletes
-- it on recovery, so a later break is told again.
CREATE TABLE readiness_problems (
    problem_key TEXT PRIMARY KEY,       -- customer/step/horizon
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    step        BIGINT NOT NULL,
    horizon     TEXT NOT NULL CHECK (horizon IN ('now', 'next_shift')),
    at          BIGINT NOT NULL,        -- the instant judged
    people      TEXT NOT NULL,          -- JSON [{user_id, name, role, reason}]
    since       BIGINT NOT NULL,
    checked_at  BIGINT NOT NULL
);
