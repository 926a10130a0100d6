-- +goose Up

-- Alert rules on what devices measure (internal/alerts/rules.go). devices
-- is the scope as a JSON array, NULL for the whole fleet. for_s is the
-- hold duration; times are unix microseconds.
CREATE TABLE alert_rules (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    metric      TEXT NOT NULL,
    comparison  TEXT NOT NULL CHECK (comparison IN ('>', '>=', '<', '<=')),
    threshold   REAL NOT NULL,
    for_s       INTEGER NOT NULL DEFAULT 0 CHECK (for_s >= 0),
    hysteresis  REAL NOT NULL DEFAULT 0 CHECK (hysteresis >= 0),
    devices     TEXT,
    severity    TEXT NOT NULL,
    include_late INTEGER NOT NULL DEFAULT 0,
    message     TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;

-- Where each rule's evaluation of each device stands. version is bumped
-- by every write, which names the version it read: of two checkers that
-- evaluated the same readings, the second write matches nothing.
CREATE TABLE alert_rule_state (
    rule_id       INTEGER NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    device_id     TEXT NOT NULL,
    version       INTEGER NOT NULL,
    through       INTEGER NOT NULL,
    pending_since INTEGER,
    clear_since   INTEGER,
    firing        INTEGER NOT NULL DEFAULT 0,
    last_value    REAL,
    last_at       INTEGER,
    PRIMARY KEY (rule_id, device_id)
) STRICT;
CREATE INDEX alert_rule_state_device ON alert_rule_state (device_id);

-- A value alert belongs to its rule: one open per device and rule, so the
-- one-open index takes rule_id (0 for the other kinds). SQLite cannot
-- change a CHECK constraint, so the table is rebuilt (as in 00005).
CREATE TABLE alerts_new (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id            TEXT NOT NULL REFERENCES devices (id),
    kind                 TEXT NOT NULL CHECK (kind IN ('silent', 'failing', 'update', 'value')),
    message              TEXT NOT NULL,
    opened_at            INTEGER NOT NULL,
    resolved_at          INTEGER,
    opened_notified_at   INTEGER,
    resolved_notified_at INTEGER,
    notify_attempts      INTEGER NOT NULL DEFAULT 0,
    next_attempt_at      INTEGER,
    last_error           TEXT,
    claimed_until        INTEGER,
    claim_token          TEXT,
    rule_id              INTEGER NOT NULL DEFAULT 0
) STRICT;
INSERT INTO alerts_new (id, device_id, kind, message, opened_at, resolved_at, opened_notified_at, resolved_notified_at,
    notify_attempts, next_attempt_at, last_error, claimed_until, claim_token)
SELECT id, device_id, kind, message, opened_at, resolved_at, opened_notified_at, resolved_notified_at,
    notify_attempts, next_attempt_at, last_error, claimed_until, claim_token FROM alerts;
DROP TABLE alerts;
ALTER TABLE alerts_new RENAME TO alerts;
CREATE UNIQUE INDEX alerts_one_open ON alerts (device_id, kind, rule_id) WHERE resolved_at IS NULL;
CREATE INDEX alerts_opened_at ON alerts (opened_at);
CREATE INDEX alerts_pending ON alerts (id)
    WHERE opened_notified_at IS NULL OR (resolved_at IS NOT NULL AND resolved_notified_at IS NULL);

-- +goose Down
CREATE TABLE alerts_old (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id            TEXT NOT NULL REFERENCES devices (id),
    kind                 TEXT NOT NULL CHECK (kind IN ('silent', 'failing', 'update')),
    message              TEXT NOT NULL,
    opened_at            INTEGER NOT NULL,
    resolved_at          INTEGER,
    opened_notified_at   INTEGER,
    resolved_notified_at INTEGER,
    notify_attempts      INTEGER NOT NULL DEFAULT 0,
    next_attempt_at      INTEGER,
    last_error           TEXT,
    claimed_until        INTEGER,
    claim_token          TEXT
) STRICT;
INSERT INTO alerts_old SELECT id, device_id, kind, message, opened_at, resolved_at, opened_notified_at, resolved_notified_at,
    notify_attempts, next_attempt_at, last_error, claimed_until, claim_token FROM alerts WHERE kind <> 'value';
DROP TABLE alerts;
ALTER TABLE alerts_old RENAME TO alerts;
CREATE UNIQUE INDEX alerts_one_open ON alerts (device_id, kind) WHERE resolved_at IS NULL;
CREATE INDEX alerts_opened_at ON alerts (opened_at);
CREATE INDEX alerts_pending ON alerts (id)
    WHERE opened_notified_at IS NULL OR (resolved_at IS NOT NULL AND resolved_notified_at IS NULL);
DROP TABLE alert_rule_state;
DROP TABLE alert_rules;
