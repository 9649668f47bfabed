-- `report_incidents`: one row per incident with native types, for the SQL dashboards support
-- operations point at this database (Grafana, Metabase, psql). The tables keep instants as
-- BIGINT milliseconds (the store's one code path through sqlx's `Any` driver needs plain
-- types); this view turns them into timestamptz once, so a dashboard query needs no
-- `to_timestamp(x / 1000.0)` of its own. See the README's "SLA in plain SQL".
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
    to_timestamp(i.created_at / 1000.0)             AS created_at,
    to_timestamp(i.first_page_at / 1000.0)          AS first_page_at,
    to_timestamp(i.first_accepted_at / 1000.0)      AS first_accepted_at,
    to_timestamp(i.acknowledged_at / 1000.0)        AS acknowledged_at,
    ack.name                                        AS acknowledged_by,
    to_timestamp(i.resolved_at / 1000.0)            AS resolved_at,
    to_timestamp(i.ack_due_at / 1000.0)             AS ack_due_at,
    to_timestamp(i.respond_due_at / 1000.0)         AS respond_due_at,
    to_timestamp(i.internal_breached_at / 1000.0)   AS internal_breached_at,
    to_timestamp(i.external_breached_at / 1000.0)   AS external_breached_at,
    to_timestamp(i.unanswered_at / 1000.0)          AS unanswered_at,
    (i.acknowledged_at - i.created_at) / 1000.0     AS seconds_to_acknowledge,
    (i.first_accepted_at - i.created_at) / 1000.0   AS seconds_to_page
FROM incidents i
JOIN tickets t ON t.id = i.ticket_id
JOIN customers c ON c.id = i.customer_id
LEFT JOIN users ack ON ack.id = i.acknowledged_by;
