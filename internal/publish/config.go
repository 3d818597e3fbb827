package publish

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/wschat/wschat/internal/contract"
)

// ConfigFromEnv reads the principal → display name map
// (contract.EnvPublishNames); retention and sendBudget come from the chat
// settings every runtime function reads.
func ConfigFromEnv(getenv func(string) string, retention time.Duration, sendBudget int) (Config, error) {
	cfg := Config{Retention: retention, SendBudget: sendBudget}
	if v := getenv(contract.EnvNoticeRecords); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return Config{}, fmt.Errorf("%s=%q: want true or false", contract.EnvNoticeRecords, v)
		}
		cfg.RecordNotices = b
	}
	raw := strings.TrimSpace(getenv(contract.EnvPublishNames))
	if raw == "" {
		return cfg, nil
	}
	if err := json.Unmarshal([]byte(raw), &cfg.Names); err != nil {
		return Config{}, fmt.Errorf("%s: want a JSON object of principal ARN to name: %w", contract.EnvPublishNames, err)
	}
	for arn, name := range cfg.Names {
		if !strings.HasPrefix(arn, "arn:") || strings.TrimSpace(name) == "" {
			return Config{}, fmt.Errorf("%s: %q → %q: want a principal ARN and a non-empty name", contract.EnvPublishNames, arn, name)
		}
	}
	return cfg, nil
}
