// Command wordfilter is an example before-send hook: a Lambda function a
// team owns, which wschat's chat function invokes before it stores each
// message (see docs/events.md, "The before-send hook"). It rejects a
// message with a blocked word, with a reason the sender sees as an error
// frame, and redacts a masked word; everything else is allowed. It imports
// only the wire contract (wire/events) and aws-lambda-go.
//
// Settings, from its environment: WORDFILTER_BLOCK and WORDFILTER_MASK,
// comma-separated words matched case-insensitively as whole words.
package main

import (
	"context"
	"os"
	"strings"
	"unicode"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wschat/wschat/wire/events"
)

// Filter holds the words.
type Filter struct {
	Block []string // a message with one of these is rejected
	Mask  []string // these are replaced by asterisks
}

// New reads the filter's words from getenv.
func New(getenv func(string) string) Filter {
	return Filter{Block: words(getenv("WORDFILTER_BLOCK")), Mask: words(getenv("WORDFILTER_MASK"))}
}

func words(s string) []string {
	var out []string
	for _, w := range strings.Split(s, ",") {
		if w = strings.ToLower(strings.TrimSpace(w)); w != "" {
			out = append(out, w)
		}
	}
	return out
}

// Check is the hook's handler.
func (f Filter) Check(_ context.Context, in events.BeforeSend) (events.Verdict, error) {
	tokens := strings.FieldsFunc(strings.ToLower(in.Text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	for _, t := range tokens {
		for _, b := range f.Block {
			if t == b {
				return events.Verdict{Verdict: events.Reject, Reason: "messages may not contain the word \"" + b + "\""}, nil
			}
		}
	}
	masked, changed := mask(in.Text, f.Mask)
	if changed {
		return events.Verdict{Verdict: events.Replace, Text: masked}, nil
	}
	return events.Verdict{Verdict: events.Allow}, nil
}

// mask replaces each whole-word occurrence of a masked word by asterisks,
// keeping everything else of the text as it was.
func mask(text string, masked []string) (string, bool) {
	if len(masked) == 0 {
		return text, false
	}
	runes := []rune(text)
	changed := false
	for i := 0; i < len(runes); {
		if !isWord(runes[i]) {
			i++
			continue
		}
		j := i
		for j < len(runes) && isWord(runes[j]) {
			j++
		}
		word := strings.ToLower(string(runes[i:j]))
		for _, m := range masked {
			if word == m {
				for k := i; k < j; k++ {
					runes[k] = '*'
				}
				changed = true
			}
		}
		i = j
	}
	return string(runes), changed
}

func isWord(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

func main() {
	lambda.Start(New(os.Getenv).Check)
}
