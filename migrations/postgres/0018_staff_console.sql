-- Staff sign-in for the console. A table of its own keyed by user id, not columns on `users`:
-- SQLite cannot change `users`' role CHECK without rebuilding the table and every foreign key
-- that points at it, and contacts never sign in. `admin` is a flag on top of the user's role
-- (responder or support_manager), for the same reason: a third role would be a rebuild.
CREATE TABLE staff_accounts (
    user_id       TEXT PRIMARY KEY REFERENCES users (id),
    email         TEXT NOT NULL UNIQUE,    -- lower-cased; what the person signs in with
    password_hash TEXT,                    -- Argon2id PHC string; NULL until the invite is used
    admin         BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- One-time set-password links. Only the SHA-256 of the 256-bit token is stored.
CREATE TABLE staff_invites (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);

CREATE INDEX staff_invites_user ON staff_invites (user_id);

-- Server-side sessions: the cookie holds a 256-bit token, the table its SHA-256. The CSRF
-- synchroniser token is bound to the session row.
CREATE TABLE staff_sessions (
    token_hash   TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id),
    csrf_token   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,          -- the absolute lifetime's end
    revoked_at   BIGINT
);

CREATE INDEX staff_sessions_user ON staff_sessions (user_id);
