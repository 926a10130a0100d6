-- +goose Up

-- Alert rules on what devices measure (internal/alerts/rules.go). devices
-- is the scope, NULL for the whole fleet. for_s is the hold duration.
CREATE TABLE alert_rules (
    id          bigserial PRIMARY KEY,
    metric      text NOT NULL,
    comparison  text NOT NULL CHECK (comparison IN ('>', '>=', '<', '<=')),
    threshold   double precision NOT NULL,
    for_s       bigint NOT NULL DEFAULT 0 CHECK (for_s >= 0),
    hysteresis  double precision NOT NULL DEFAULT 0 CHECK (hysteresis >= 0),
    devices     text[] COLLATE "C",
    severity    text NOT NULL,
    include_late boolean NOT NULL DEFAULT false,
    message     text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- Where each rule's evaluation of each device stands. version is bumped
-- by every write, which names the version it read: of two checkers that
-- evaluated the same readings, the second write matches nothing.
CREATE TABLE alert_rule_state (
    rule_id       bigint NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    device_id     text COLLATE "C" NOT NULL,
    version       bigint NOT NULL,
    through       timestamptz NOT NULL,
    pending_since timestamptz,
    clear_since   timestamptz,
    firing        boolean NOT NULL DEFAULT false,
    last_value    double precision,
    last_at       timestamptz,
    PRIMARY KEY (rule_id, device_id)
);
CREATE INDEX alert_rule_state_device ON alert_rule_state (device_id);

-- A value alert belongs to its rule: one open per device and rule, so the
-- one-open index takes rule_id (0 for the other kinds).
ALTER TABLE alerts ADD COLUMN rule_id bigint NOT NULL DEFAULT 0;
ALTER TABLE alerts DROP CONSTRAINT alerts_kind_check,
    ADD CONSTRAINT alerts_kind_check CHECK (kind IN ('silent', 'failing', 'update', 'value'));
DROP INDEX alerts_one_open;
CREATE UNIQUE INDEX alerts_one_open ON alerts (device_id, kind, rule_id) WHERE resolved_at IS NULL;

-- +goose Down
DELETE FROM alerts WHERE kind = 'value';
DROP INDEX alerts_one_open;
CREATE UNIQUE INDEX alerts_one_open ON alerts (device_id, kind) WHERE resolved_at IS NULL;
ALTER TABLE alerts DROP CONSTRAINT alerts_kind_check,
    ADD CONSTRAINT alerts_kind_check CHECK (kind IN ('silent', 'failing', 'update'));
ALTER TABLE alerts DROP COLUMN rule_id;
DROP TABLE alert_rule_state;
DROP TABLE alert_rules;
