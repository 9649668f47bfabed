-- Key/value settings the gateway persists for itself (for example a generated development key).
CREATE TABLE gateway_settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
