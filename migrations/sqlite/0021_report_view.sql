-- `report_incidents`: one row per incident with readable instants, for SQL dashboards and the
-- sqlite3 shell. Instants are kept as INTEGER milliseconds in the tables; here they are
-- ISO 8601 UTC text (SQLite has no timestamp type). The PostgreSQL view has the same columns
-- as timestamptz. See the README's "SLA in plain SQL".
CREATE VIEW report_incidents AS
SELECT
    i.id                                            AS incident_id,
    t.external_ref                                  AS ticket_ref,
    c.name                                          AS customer,
    i.tier_id                                       AS tier,
    i.state                                         AS state,
    i.affected_service                              AS affected_service,
    i.summary                                       AS summary,
    i.alert_count                                   AS alert_count,
    strftime('%Y-%m-%dT%H:%M:%fZ', i.created_at / 1000.0, 'unixepoch')           AS created_at,
    strftime('%Y-%m-%dT%H:%M:%fZ', i.first_page_at / 1000.0, 'unixepoch')        AS first_page_at,
    strftime('%Y-%m-%dT%H:%M:%fZ', i.first_accepted_at / 1000.0, 'unixepoch')    AS first_accepted_at,
    strftime('%Y-%m-%dT%H:%M:%fZ', i.acknowledged_at / 1000.0, 'unixepoch')      AS acknowledged_at,
    ack.name                                        AS acknowledged_by,
    strftime('%Y-%m-%dT%H:%M:%fZ', i.resolved_at / 1000.0, 'unixepoch')          AS resolved_at,
    strftime('%Y-%m-%dT%H:%M:%fZ', i.ack_due_at / 1000.0, 'unixepoch')           AS ack_due_at,
    strftime('%Y-%m-%dT%H:%M:%fZ', i.respond_due_at / 1000.0, 'unixepoch')       AS respond_due_at,
    strftime('%Y-%m-%dT%H:%M:%fZ', i.internal_breached_at / 1000.0, 'unixepoch') AS internal_breached_at,
    strftime('%Y-%m-%dT%H:%M:%fZ', i.external_breached_at / 1000.0, 'unixepoch') AS external_breached_at,
    strftime('%Y-%m-%dT%H:%M:%fZ', i.unanswered_at / 1000.0, 'unixepoch')        AS unanswered_at,
    (i.acknowledged_at - i.created_at) / 1000.0     AS seconds_to_acknowledge,
    (i.first_accepted_at - i.created_at) / 1000.0   AS seconds_to_page
FROM incidents i
JOIN tickets t ON t.id = i.ticket_id
JOIN customers c ON c.id = i.customer_id
LEFT JOIN users ack ON ack.id = i.acknowledged_by;
