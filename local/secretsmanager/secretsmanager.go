// Package secretsmanager emulates the read side of Secrets Manager for the
// template's secrets: GetSecretValue over the AWS JSON 1.1 protocol the
// SDK speaks (X-Amz-Target: secretsmanager.GetSecretValue), by ARN or
// name. Values are the template's SecretString, or generated as
// CloudFormation's GenerateSecretString would; a value stays the same while
// the emulator runs.
package secretsmanager

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Secret is one secret and its value.
type Secret struct {
	Name, ARN, Value string
	Created          time.Time
}

// Generate is what CloudFormation's GenerateSecretString takes.
type Generate struct {
	PasswordLength          int
	ExcludeCharacters       string
	ExcludeLowercase        bool
	ExcludeNumbers          bool
	ExcludePunctuation      bool
	ExcludeUppercase        bool
	IncludeSpace            bool
	RequireEachIncludedType bool
	SecretStringTemplate    string
	GenerateStringKey       string
}

const (
	lower       = "abcdefghijklmnopqrstuvwxyz"
	upper       = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	digits      = "0123456789"
	punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
)

// Value generates a secret value as GenerateSecretString does: a password
// of PasswordLength (32 by default) from the allowed characters, alone or
// under GenerateStringKey in SecretStringTemplate.
func (g Generate) Value() (string, error) {
	n := g.PasswordLength
	if n == 0 {
		n = 32
	}
	if n < 1 || n > 4096 {
		return "", fmt.Errorf("PasswordLength %d outside 1-4096", n)
	}
	var classes []string
	for _, c := range []struct {
		set     string
		exclude bool
	}{{lower, g.ExcludeLowercase}, {upper, g.ExcludeUppercase}, {digits, g.ExcludeNumbers}, {punctuation, g.ExcludePunctuation}} {
		if c.exclude {
			continue
		}
		if set := strings.Map(func(r rune) rune {
			if strings.ContainsRune(g.ExcludeCharacters, r) {
				return -1
			}
			return r
		}, c.set); set != "" {
			classes = append(classes, set)
		}
	}
	if g.IncludeSpace {
		classes = append(classes, " ")
	}
	all := strings.Join(classes, "")
	if all == "" {
		return "", errors.New("GenerateSecretString excludes every character")
	}
	for {
		b := make([]byte, n)
		for i := range b {
			b[i] = all[randInt(len(all))]
		}
		if !g.RequireEachIncludedType || n < len(classes) || hasEach(string(b), classes) {
			return g.wrap(string(b))
		}
	}
}

func hasEach(s string, classes []string) bool {
	for _, c := range classes {
		if !strings.ContainsAny(s, c) {
			return false
		}
	}
	return true
}

func (g Generate) wrap(password string) (string, error) {
	if g.SecretStringTemplate == "" {
		return password, nil
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(g.SecretStringTemplate), &obj); err != nil {
		return "", fmt.Errorf("SecretStringTemplate is not a JSON object: %w", err)
	}
	if g.GenerateStringKey == "" {
		return "", errors.New("SecretStringTemplate without GenerateStringKey")
	}
	obj[g.GenerateStringKey] = password
	b, err := json.Marshal(obj)
	return string(b), err
}

func randInt(n int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return int(v.Int64())
}

// Store holds the secrets by ARN and name.
type Store struct {
	mu      sync.RWMutex
	secrets map[string]*Secret
}

// NewStore returns an empty store.
func NewStore() *Store { return &Store{secrets: map[string]*Secret{}} }

// Put adds or replaces a secret.
func (s *Store) Put(sec Secret) {
	if sec.Created.IsZero() {
		sec.Created = time.Now()
	}
	s.mu.Lock()
	s.secrets[sec.ARN], s.secrets[sec.Name] = &sec, &sec
	s.mu.Unlock()
}

// Get finds a secret by ARN or name.
func (s *Store) Get(id string) (Secret, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sec, ok := s.secrets[id]
	if !ok {
		return Secret{}, false
	}
	return *sec, true
}

// Handler serves GetSecretValue (the caller checks signatures).
func (s *Store) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if op := r.Header.Get("X-Amz-Target"); op != "secretsmanager.GetSecretValue" {
			writeError(w, http.StatusBadRequest, "UnknownOperationException", "the emulator's Secrets Manager serves GetSecretValue only, not "+op)
			return
		}
		var in struct {
			SecretID     string `json:"SecretId"`
			VersionID    string `json:"VersionId"`
			VersionStage string `json:"VersionStage"`
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 64*1024))
		if err := json.Unmarshal(body, &in); err != nil || in.SecretID == "" {
			writeError(w, http.StatusBadRequest, "InvalidParameterException", "SecretId is required")
			return
		}
		if in.VersionStage != "" && in.VersionStage != "AWSCURRENT" || in.VersionID != "" && in.VersionID != "local-1" {
			writeError(w, http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for VersionId or VersionStage")
			return
		}
		sec, ok := s.Get(in.SecretID)
		if !ok {
			writeError(w, http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"ARN": sec.ARN, "Name": sec.Name, "SecretString": sec.Value, "VersionId": "local-1",
			"VersionStages": []string{"AWSCURRENT"}, "CreatedDate": float64(sec.Created.UnixMilli()) / 1000,
		})
	})
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Errortype", typ)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
}
