-- +goose Up

-- A rate rule (internal/alerts/evaluate.go) compares the change of its
-- metric over rate_over_s seconds with the threshold; 0 is a value rule.
ALTER TABLE alert_rules ADD COLUMN rate_over_s bigint NOT NULL DEFAULT 0 CHECK (rate_over_s >= 0);

-- +goose Down
DELETE FROM alert_rules WHERE rate_over_s > 0;
ALTER TABLE alert_rules DROP COLUMN rate_over_s;
