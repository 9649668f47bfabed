-- Identity: support tiers, customers, users, devices and the credentials that bind them.
-- Timestamps are BIGINT milliseconds since the Unix epoch (UTC); flags are BIGINT 0/1; ids are text.

CREATE TABLE tiers (
    id           TEXT PRIMARY KEY,          -- 'bronze' | 'silver' | 'gold'
    name         TEXT NOT NULL,
    rank         BIGINT NOT NULL,           -- higher is better
    panic_button BIGINT NOT NULL,           -- 1: contacts may press the panic button
    sla          TEXT NOT NULL DEFAULT '{}', -- SLA settings as JSON
    updated_at   BIGINT NOT NULL
);

INSERT INTO tiers (id, name, rank, panic_button, updated_at) VALUES
    ('bronze', 'Bronze', 1, 0, 0),
    ('silver', 'Silver', 2, 0, 0),
    ('gold',   'Gold',   3, 1, 0);

CREATE TABLE users (
    id          TEXT PRIMARY KEY,
    -- 'contact' (a customer's person), 'responder', 'support_manager' (a responder with oversight)
    role        TEXT NOT NULL CHECK (role IN ('contact', 'responder', 'support_manager')),
    customer_id TEXT,
    name        TEXT NOT NULL,
    email       TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    CHECK ((role = 'contact') = (customer_id IS NOT NULL))
);

CREATE TABLE customers (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    tier_id            TEXT NOT NULL REFERENCES tiers (id),
    account_manager_id TEXT REFERENCES users (id),
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);

-- users and customers reference each other; PostgreSQL needs the second key added afterwards.
ALTER TABLE users ADD CONSTRAINT users_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id);

CREATE INDEX users_customer ON users (customer_id);

CREATE TABLE admin_keys (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    key_hash   TEXT NOT NULL UNIQUE,   -- SHA-256 hex; the key itself is shown once
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE enrollment_codes (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    code_hash  TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);

CREATE TABLE devices (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (id),
    platform        TEXT NOT NULL CHECK (platform IN ('ios', 'android')),
    push_token      TEXT NOT NULL,
    app_version     TEXT NOT NULL,
    name            TEXT NOT NULL,
    critical_alerts BIGINT NOT NULL DEFAULT 0,
    token_dead_at   BIGINT,            -- the push provider said the token is gone
    revoked_at      BIGINT,
    revoked_reason  TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE INDEX devices_user ON devices (user_id);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    device_id  TEXT NOT NULL REFERENCES devices (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);

CREATE INDEX refresh_tokens_device ON refresh_tokens (device_id);

CREATE TABLE audit_log (
    id           TEXT PRIMARY KEY,
    at           BIGINT NOT NULL,
    actor        TEXT NOT NULL,   -- 'admin:<key id>', 'device:<device id>', 'system'
    action       TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    detail       TEXT NOT NULL DEFAULT '{}'
);

CREATE INDEX audit_log_subject ON audit_log (subject_type, subject_id);
