-- The pruner deletes idempotency keys by age: find them without reading the whole table.
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
