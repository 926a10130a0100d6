-- +goose Up

-- Operations: how often a device should report, what it last said about
-- its own health, what the server counted against it, and alerts.

ALTER TABLE devices
    -- A device is "silent" after ALERT_MISSED_INTERVALS of these without data.
    ADD COLUMN expected_interval_s integer NOT NULL DEFAULT 300 CHECK (expected_interval_s > 0),
    -- payload.device of its newest reading (by recordedAt) that carried one.
    ADD COLUMN health        jsonb,
    ADD COLUMN health_at     timestamptz,
    -- Lifetime counts, for display; the failing rule uses device_failures.
    ADD COLUMN rejected_count bigint NOT NULL DEFAULT 0,
    ADD COLUMN auth_failures  bigint NOT NULL DEFAULT 0;

-- Failures counted by the server, per device and minute, so that "in the
-- last hour" is exact to the minute. A row exists only for minutes that
-- had a failure; retention removes old ones.
CREATE TABLE device_failures (
    device_id     text COLLATE "C" NOT NULL REFERENCES devices (id),
    minute        timestamptz NOT NULL,
    rejected      integer NOT NULL DEFAULT 0,
    auth_failures integer NOT NULL DEFAULT 0,
    PRIMARY KEY (device_id, minute)
);

CREATE INDEX device_failures_minute ON device_failures (minute);

-- One row per alert episode. The database is the arbiter between checkers
-- running at once (serve's ticker, the cron job, several instances): the
-- partial unique index lets only one of them open an episode, and the
-- claim columns let only one of them notify each transition.
CREATE TABLE alerts (
    id                   bigserial PRIMARY KEY,
    device_id            text COLLATE "C" NOT NULL REFERENCES devices (id),
    kind                 text NOT NULL CHECK (kind IN ('silent', 'failing')),
    message              text NOT NULL,
    opened_at            timestamptz NOT NULL,
    resolved_at          timestamptz,
    opened_notified_at   timestamptz,
    resolved_notified_at timestamptz,
    notify_attempts      integer NOT NULL DEFAULT 0,
    next_attempt_at      timestamptz,
    last_error           text,
    claimed_until        timestamptz,
    claim_token          text
);

CREATE UNIQUE INDEX alerts_one_open ON alerts (device_id, kind) WHERE resolved_at IS NULL;
CREATE INDEX alerts_opened_at ON alerts (opened_at);
-- What the notifier looks for: transitions not yet notified.
CREATE INDEX alerts_pending ON alerts (id)
    WHERE opened_notified_at IS NULL OR (resolved_at IS NOT NULL AND resolved_notified_at IS NULL);

-- +goose Down
DROP TABLE alerts;
DROP TABLE device_failures;
ALTER TABLE devices
    DROP COLUMN expected_interval_s,
    DROP COLUMN health,
    DROP COLUMN health_at,
    DROP COLUMN rejected_count,
    DROP COLUMN auth_failures;
