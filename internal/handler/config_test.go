package handler_test

import (
	"testing"
	"time"

	"github.com/wschat/wschat/internal/handler"
)

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    handler.Config
		wantErr bool
	}{
		{"defaults", nil, handler.Config{HistoryRetention: 720 * time.Hour, RatePerSecond: 5, RateBurst: 10, MaxChannels: 20, SendBudget: 2000, PresenceMaxMembers: 100,
			MaxConnectionsPerUser: 10, UserRatePerSecond: 10, UserRateBurst: 20, FrameRatePerSecond: 10, FrameBurst: 20, ChannelRate: 2000,
			TokenGrace: time.Minute, DirectMessages: true}, false},
		{"all set", map[string]string{
			"WSCHAT_HISTORY_RETENTION": "24h", "WSCHAT_RATE_PER_SECOND": "0.5", "WSCHAT_RATE_BURST": "3",
			"WSCHAT_MAX_CHANNELS": "5", "WSCHAT_SEND_BUDGET": "0", "WSCHAT_PRESENCE_MAX_MEMBERS": "0",
			"WSCHAT_DEFAULT_CHANNELS": "general,team-*=r", "WSCHAT_MAX_CONNECTIONS_PER_USER": "3",
			"WSCHAT_USER_RATE_PER_SECOND": "7", "WSCHAT_USER_RATE_BURST": "8",
			"WSCHAT_FRAME_RATE_PER_SECOND": "0", "WSCHAT_FRAME_BURST": "4", "WSCHAT_CHANNEL_RATE": "500",
			"WSCHAT_TOKEN_GRACE": "5s", "WSCHAT_DIRECT_MESSAGES": "off",
		}, handler.Config{HistoryRetention: 24 * time.Hour, RatePerSecond: 0.5, RateBurst: 3, MaxChannels: 5, SendBudget: 0,
			DefaultChannels: "v1:general=rwpd team-*=r", MaxConnectionsPerUser: 3, UserRatePerSecond: 7, UserRateBurst: 8,
			FrameRatePerSecond: 0, FrameBurst: 4, ChannelRate: 500, TokenGrace: 5 * time.Second}, false},
		{"bad retention", map[string]string{"WSCHAT_HISTORY_RETENTION": "30"}, handler.Config{}, true},
		{"negative retention", map[string]string{"WSCHAT_HISTORY_RETENTION": "-1h"}, handler.Config{}, true},
		{"bad rate", map[string]string{"WSCHAT_RATE_PER_SECOND": "fast"}, handler.Config{}, true},
		{"zero burst", map[string]string{"WSCHAT_RATE_BURST": "0"}, handler.Config{}, true},
		{"zero channels", map[string]string{"WSCHAT_MAX_CHANNELS": "0"}, handler.Config{}, true},
		{"negative budget", map[string]string{"WSCHAT_SEND_BUDGET": "-1"}, handler.Config{}, true},
		{"negative presence size", map[string]string{"WSCHAT_PRESENCE_MAX_MEMBERS": "-1"}, handler.Config{}, true},
		{"bad default channels", map[string]string{"WSCHAT_DEFAULT_CHANNELS": "Gen*eral"}, handler.Config{}, true},
		{"negative connection cap", map[string]string{"WSCHAT_MAX_CONNECTIONS_PER_USER": "-1"}, handler.Config{}, true},
		{"bad user rate", map[string]string{"WSCHAT_USER_RATE_PER_SECOND": "-2"}, handler.Config{}, true},
		{"zero frame burst", map[string]string{"WSCHAT_FRAME_BURST": "0"}, handler.Config{}, true},
		{"bad channel rate", map[string]string{"WSCHAT_CHANNEL_RATE": "-5"}, handler.Config{}, true},
		{"bad grace", map[string]string{"WSCHAT_TOKEN_GRACE": "forever"}, handler.Config{}, true},
		{"grace over an hour", map[string]string{"WSCHAT_TOKEN_GRACE": "2h"}, handler.Config{}, true},
		{"bad direct switch", map[string]string{"WSCHAT_DIRECT_MESSAGES": "yes"}, handler.Config{}, true},
	}
	for _, tt := range tests {
		got, err := handler.ConfigFromEnv(func(k string) string { return tt.env[k] })
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("%s: ConfigFromEnv = %+v, %v; want %+v, error %v", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}
