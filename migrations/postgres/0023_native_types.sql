-- Native PostgreSQL types (#13): instants become timestamptz, JSON documents jsonb, and the
-- ids the gateway always generates itself (tickets, incidents, alerts, deliveries, timeline
-- events, and the columns that refer to them) uuid. Ids an administrator may choose (users,
-- customers, teams, schedules, policies: configuration as code names them) stay text.
-- Every row is kept: instants are exact to the millisecond (epoch + n milliseconds), and a
-- JSON text or id that does not parse stops the migration (and the start) instead of being
-- dropped. The store binds and reads the same values as before (src/store/db.rs).

DROP VIEW report_incidents;

ALTER TABLE incidents DROP CONSTRAINT incidents_ticket_id_fkey;
ALTER TABLE alerts DROP CONSTRAINT alerts_ticket_id_fkey;
ALTER TABLE alerts DROP CONSTRAINT alerts_incident_id_fkey;
ALTER TABLE incident_events DROP CONSTRAINT incident_events_ticket_id_fkey;
ALTER TABLE incident_events DROP CONSTRAINT incident_events_incident_id_fkey;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_incident_id_fkey;
ALTER TABLE escalation_links DROP CONSTRAINT escalation_links_ticket_id_fkey;
ALTER TABLE ticket_pauses DROP CONSTRAINT ticket_pauses_ticket_id_fkey;
ALTER TABLE ticket_pauses DROP CONSTRAINT ticket_pauses_incident_id_fkey;
ALTER TABLE escalation_links DROP CONSTRAINT escalation_links_incident_id_fkey;
ALTER TABLE round_robin_picks DROP CONSTRAINT round_robin_picks_incident_id_fkey;

ALTER TABLE admin_keys
    ALTER COLUMN created_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond',
    ALTER COLUMN revoked_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + revoked_at * INTERVAL '1 millisecond',
    ALTER COLUMN expires_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + expires_at * INTERVAL '1 millisecond',
    ALTER COLUMN last_used_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + last_used_at * INTERVAL '1 millisecond';

ALTER TABLE alerts
    ALTER COLUMN id TYPE uuid USING id::uuid,
    ALTER COLUMN ticket_id TYPE uuid USING ticket_id::uuid,
    ALTER COLUMN incident_id TYPE uuid USING incident_id::uuid,
    ALTER COLUMN created_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond',
    ALTER COLUMN answers TYPE jsonb USING answers::jsonb,
    ALTER COLUMN classification TYPE jsonb USING classification::jsonb;

ALTER TABLE audit_log
    ALTER COLUMN at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + at * INTERVAL '1 millisecond',
    ALTER COLUMN detail DROP DEFAULT,
    ALTER COLUMN detail TYPE jsonb USING detail::jsonb,
    ALTER COLUMN detail SET DEFAULT '{}';

ALTER TABLE calendar_feeds
    ALTER COLUMN created_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond',
    ALTER COLUMN revoked_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + revoked_at * INTERVAL '1 millisecond';

ALTER TABLE contact_methods
    ALTER COLUMN verified_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + verified_at * INTERVAL '1 millisecond',
    ALTER COLUMN disabled_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + disabled_at * INTERVAL '1 millisecond',
    ALTER COLUMN code_expires_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + code_expires_at * INTERVAL '1 millisecond',
    ALTER COLUMN deleted_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + deleted_at * INTERVAL '1 millisecond',
    ALTER COLUMN created_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond',
    ALTER COLUMN updated_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + updated_at * INTERVAL '1 millisecond';

ALTER TABLE customers
    ALTER COLUMN created_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond',
    ALTER COLUMN updated_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + updated_at * INTERVAL '1 millisecond';

ALTER TABLE deliveries
    ALTER COLUMN id TYPE uuid USING id::uuid,
    ALTER COLUMN incident_id TYPE uuid USING incident_id::uuid,
    ALTER COLUMN due_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + due_at * INTERVAL '1 millisecond',
    ALTER COLUMN expires_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + expires_at * INTERVAL '1 millisecond',
    ALTER COLUMN give_up_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + give_up_at * INTERVAL '1 millisecond',
    ALTER COLUMN lease_until TYPE timestamptz USING TIMESTAMPTZ 'epoch' + lease_until * INTERVAL '1 millisecond',
    ALTER COLUMN created_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond',
    ALTER COLUMN sent_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + sent_at * INTERVAL '1 millisecond',
    ALTER COLUMN updated_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + updated_at * INTERVAL '1 millisecond';

ALTER TABLE devices
    ALTER COLUMN token_dead_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + token_dead_at * INTERVAL '1 millisecond',
    ALTER COLUMN revoked_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + revoked_at * INTERVAL '1 millisecond',
    ALTER COLUMN created_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond',
    ALTER COLUMN updated_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + updated_at * INTERVAL '1 millisecond';

ALTER TABLE enrollment_codes
    ALTER COLUMN created_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond',
    ALTER COLUMN expires_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + expires_at * INTERVAL '1 millisecond',
    ALTER COLUMN used_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + used_at * INTERVAL '1 millisecond',
    ALTER COLUMN revoked_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + revoked_at * INTERVAL '1 millisecond';

ALTER TABLE escalation_links
    ALTER COLUMN ticket_id TYPE uuid USING ticket_id::uuid,
    ALTER COLUMN incident_id TYPE uuid USING incident_id::uuid,
    ALTER COLUMN created_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond',
    ALTER COLUMN expires_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + expires_at * INTERVAL '1 millisecond',
    ALTER COLUMN used_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + used_at * INTERVAL '1 millisecond';

ALTER TABLE escalation_policies
    ALTER COLUMN created_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond',
    ALTER COLUMN updated_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + updated_at * INTERVAL '1 millisecond',
    ALTER COLUMN definition TYPE jsonb USING definition::jsonb;

ALTER TABLE gateway_settings
    ALTER COLUMN updated_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + updated_at * INTERVAL '1 millisecond';

ALTER TABLE idempotency_keys
    ALTER COLUMN created_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond';

ALTER TABLE incident_events
    ALTER COLUMN id TYPE uuid USING id::uuid,
    ALTER COLUMN ticket_id TYPE uuid USING ticket_id::uuid,
    ALTER COLUMN incident_id TYPE uuid USING incident_id::uuid,
    ALTER COLUMN alert_id TYPE uuid USING alert_id::uuid,
    ALTER COLUMN at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + at * INTERVAL '1 millisecond',
    ALTER COLUMN detail DROP DEFAULT,
    ALTER COLUMN detail TYPE jsonb USING detail::jsonb,
    ALTER COLUMN detail SET DEFAULT '{}';

ALTER TABLE incidents
    ALTER COLUMN id TYPE uuid USING id::uuid,
    ALTER COLUMN ticket_id TYPE uuid USING ticket_id::uuid,
    ALTER COLUMN next_escalation_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + next_escalation_at * INTERVAL '1 millisecond',
    ALTER COLUMN acknowledged_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + acknowledged_at * INTERVAL '1 millisecond',
    ALTER COLUMN resolved_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + resolved_at * INTERVAL '1 millisecond',
    ALTER COLUMN first_page_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + first_page_at * INTERVAL '1 millisecond',
    ALTER COLUMN first_accepted_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + first_accepted_at * INTERVAL '1 millisecond',
    ALTER COLUMN ack_due_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + ack_due_at * INTERVAL '1 millisecond',
    ALTER COLUMN respond_due_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + respond_due_at * INTERVAL '1 millisecond',
    ALTER COLUMN created_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond',
    ALTER COLUMN updated_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + updated_at * INTERVAL '1 millisecond',
    ALTER COLUMN unanswered_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + unanswered_at * INTERVAL '1 millisecond',
    ALTER COLUMN internal_breached_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + internal_breached_at * INTERVAL '1 millisecond',
    ALTER COLUMN external_breached_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + external_breached_at * INTERVAL '1 millisecond',
    ALTER COLUMN policy TYPE jsonb USING policy::jsonb;

ALTER TABLE notices
    ALTER COLUMN due_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + due_at * INTERVAL '1 millisecond',
    ALTER COLUMN give_up_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + give_up_at * INTERVAL '1 millisecond',
    ALTER COLUMN lease_until TYPE timestamptz USING TIMESTAMPTZ 'epoch' + lease_until * INTERVAL '1 millisecond',
    ALTER COLUMN created_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond',
    ALTER COLUMN updated_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + updated_at * INTERVAL '1 millisecond';

ALTER TABLE notification_rules
    ALTER COLUMN updated_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + updated_at * INTERVAL '1 millisecond',
    ALTER COLUMN rules TYPE jsonb USING rules::jsonb;

ALTER TABLE readiness_problems
    ALTER COLUMN at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + at * INTERVAL '1 millisecond',
    ALTER COLUMN since TYPE timestamptz USING TIMESTAMPTZ 'epoch' + since * INTERVAL '1 millisecond',
    ALTER COLUMN checked_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + checked_at * INTERVAL '1 millisecond',
    ALTER COLUMN people TYPE jsonb USING people::jsonb;

ALTER TABLE refresh_tokens
    ALTER COLUMN created_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond',
    ALTER COLUMN expires_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + expires_at * INTERVAL '1 millisecond',
    ALTER COLUMN used_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + used_at * INTERVAL '1 millisecond';

ALTER TABLE round_robin_picks
    ALTER COLUMN incident_id TYPE uuid USING incident_id::uuid,
    ALTER COLUMN picked_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + picked_at * INTERVAL '1 millisecond';

ALTER TABLE schedules
    ALTER COLUMN created_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond',
    ALTER COLUMN updated_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + updated_at * INTERVAL '1 millisecond',
    ALTER COLUMN definition TYPE jsonb USING definition::jsonb;

ALTER TABLE shift_reminders
    ALTER COLUMN shift_start TYPE timestamptz USING TIMESTAMPTZ 'epoch' + shift_start * INTERVAL '1 millisecond',
    ALTER COLUMN created_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond';

ALTER TABLE staff_accounts
    ALTER COLUMN created_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond',
    ALTER COLUMN updated_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + updated_at * INTERVAL '1 millisecond';

ALTER TABLE staff_invites
    ALTER COLUMN created_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond',
    ALTER COLUMN expires_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + expires_at * INTERVAL '1 millisecond',
    ALTER COLUMN used_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + used_at * INTERVAL '1 millisecond';

ALTER TABLE staff_sessions
    ALTER COLUMN created_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond',
    ALTER COLUMN last_seen_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + last_seen_at * INTERVAL '1 millisecond',
    ALTER COLUMN expires_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + expires_at * INTERVAL '1 millisecond',
    ALTER COLUMN revoked_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + revoked_at * INTERVAL '1 millisecond';

ALTER TABLE teams
    ALTER COLUMN created_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond',
    ALTER COLUMN updated_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + updated_at * INTERVAL '1 millisecond';

ALTER TABLE ticket_pauses
    ALTER COLUMN ticket_id TYPE uuid USING ticket_id::uuid,
    ALTER COLUMN incident_id TYPE uuid USING incident_id::uuid,
    ALTER COLUMN paused_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + paused_at * INTERVAL '1 millisecond',
    ALTER COLUMN resumed_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + resumed_at * INTERVAL '1 millisecond';

ALTER TABLE tickets
    ALTER COLUMN id TYPE uuid USING id::uuid,
    ALTER COLUMN created_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond',
    ALTER COLUMN updated_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + updated_at * INTERVAL '1 millisecond';

ALTER TABLE tiers
    ALTER COLUMN updated_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + updated_at * INTERVAL '1 millisecond',
    ALTER COLUMN sla DROP DEFAULT,
    ALTER COLUMN sla TYPE jsonb USING sla::jsonb,
    ALTER COLUMN sla SET DEFAULT '{}';

ALTER TABLE unavailability
    ALTER COLUMN starts_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + starts_at * INTERVAL '1 millisecond',
    ALTER COLUMN ends_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + ends_at * INTERVAL '1 millisecond',
    ALTER COLUMN created_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond';

ALTER TABLE users
    ALTER COLUMN created_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond',
    ALTER COLUMN updated_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + updated_at * INTERVAL '1 millisecond';

ALTER TABLE webhook_deliveries
    ALTER COLUMN due_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + due_at * INTERVAL '1 millisecond',
    ALTER COLUMN give_up_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + give_up_at * INTERVAL '1 millisecond',
    ALTER COLUMN lease_until TYPE timestamptz USING TIMESTAMPTZ 'epoch' + lease_until * INTERVAL '1 millisecond',
    ALTER COLUMN created_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond',
    ALTER COLUMN sent_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + sent_at * INTERVAL '1 millisecond',
    ALTER COLUMN updated_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + updated_at * INTERVAL '1 millisecond';

ALTER TABLE webhook_endpoints
    ALTER COLUMN created_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond',
    ALTER COLUMN disabled_at TYPE timestamptz USING TIMESTAMPTZ 'epoch' + disabled_at * INTERVAL '1 millisecond',
    ALTER COLUMN events TYPE jsonb USING events::jsonb;

ALTER TABLE incidents ADD CONSTRAINT incidents_ticket_id_fkey FOREIGN KEY (ticket_id) REFERENCES tickets (id);
ALTER TABLE alerts ADD CONSTRAINT alerts_ticket_id_fkey FOREIGN KEY (ticket_id) REFERENCES tickets (id);
ALTER TABLE alerts ADD CONSTRAINT alerts_incident_id_fkey FOREIGN KEY (incident_id) REFERENCES incidents (id);
ALTER TABLE incident_events ADD CONSTRAINT incident_events_ticket_id_fkey FOREIGN KEY (ticket_id) REFERENCES tickets (id);
ALTER TABLE incident_events ADD CONSTRAINT incident_events_incident_id_fkey FOREIGN KEY (incident_id) REFERENCES incidents (id);
ALTER TABLE deliveries ADD CONSTRAINT deliveries_incident_id_fkey FOREIGN KEY (incident_id) REFERENCES incidents (id);
ALTER TABLE escalation_links ADD CONSTRAINT escalation_links_ticket_id_fkey FOREIGN KEY (ticket_id) REFERENCES tickets (id);
ALTER TABLE ticket_pauses ADD CONSTRAINT ticket_pauses_ticket_id_fkey FOREIGN KEY (ticket_id) REFERENCES tickets (id);
ALTER TABLE ticket_pauses ADD CONSTRAINT ticket_pauses_incident_id_fkey FOREIGN KEY (incident_id) REFERENCES incidents (id);
ALTER TABLE escalation_links ADD CONSTRAINT escalation_links_incident_id_fkey FOREIGN KEY (incident_id) REFERENCES incidents (id);
ALTER TABLE round_robin_picks ADD CONSTRAINT round_robin_picks_incident_id_fkey FOREIGN KEY (incident_id) REFERENCES incidents (id);

-- The dashboards' view, as before, now straight from the columns.
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
    i.created_at                                    AS created_at,
    i.first_page_at                                 AS first_page_at,
    i.first_accepted_at                             AS first_accepted_at,
    i.acknowledged_at                               AS acknowledged_at,
    ack.name                                        AS acknowledged_by,
    i.resolved_at                                   AS resolved_at,
    i.ack_due_at                                    AS ack_due_at,
    i.respond_due_at                                AS respond_due_at,
    i.internal_breached_at                          AS internal_breached_at,
    i.external_breached_at                          AS external_breached_at,
    i.unanswered_at                                 AS unanswered_at,
    EXTRACT(EPOCH FROM i.acknowledged_at - i.created_at) AS seconds_to_acknowledge,
    EXTRACT(EPOCH FROM i.first_accepted_at - i.created_at) AS seconds_to_page
FROM incidents i
JOIN tickets t ON t.id = i.ticket_id
JOIN customers c ON c.id = i.customer_id
LEFT JOIN users ack ON ack.id = i.acknowledged_by;
