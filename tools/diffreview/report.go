package main

import (
	"fmt"
	"io"
	"strings"
)

// commentMarker starts every Markdown report, so a workflow can find and
// update its earlier comment instead of adding a new one per push.
const commentMarker = "<!-- wschat-diff-review -->"

// maxMarkdown keeps a report under GitHub's 65,536-character comment limit.
const maxMarkdown = 60000

// summaryLine is the one-line verdict on a stack, e.g.
// "WsChat-prod: 3 resources changed (0 added, 0 removed, 3 modified), IAM/security changes: yes".
func summaryLine(s StackResult, baseShort string) string {
	added, removed, modified := s.Diff.Count()
	sec := "no"
	if len(s.Diff.SecurityChanges()) > 0 {
		sec = "yes"
	}
	if s.New {
		return fmt.Sprintf("%s: new stack (not defined in base %s), %d resources added, IAM/security changes: %s",
			s.Stack, baseShort, added, sec)
	}
	return fmt.Sprintf("%s: %d resources changed (%d added, %d removed, %d modified), IAM/security changes: %s",
		s.Stack, added+removed+modified, added, removed, modified, sec)
}

// writeText prints each stack's CLI diff under a header, then the summary.
func writeText(w io.Writer, r Review) {
	for _, s := range r.Stacks {
		fmt.Fprintf(w, "\n━━━ %s: base %s (%s) → %s ━━━\n", s.Stack, r.BaseShort, r.BaseRef, r.HeadLabel)
		if s.New {
			fmt.Fprintf(w, "(new stack: base %s does not define %s; diffed against an empty template)\n", r.BaseShort, s.Stack)
		}
		fmt.Fprintln(w, s.CLIDiff)
	}
	fmt.Fprintf(w, "\nSummary (base %s → %s):\n", r.BaseShort, r.HeadLabel)
	writeSummary(w, r, "")
}

// writeSummary prints one line per stack and, under it, each
// security-relevant change, every line prefixed with prefix.
func writeSummary(w io.Writer, r Review, prefix string) {
	for _, s := range r.Stacks {
		fmt.Fprintln(w, prefix+summaryLine(s, r.BaseShort))
		for _, c := range s.Diff.SecurityChanges() {
			fmt.Fprintf(w, "%s  security: %s\n", prefix, c)
		}
	}
}

// writeMarkdown renders a PR comment: a summary table, the security-relevant
// changes, and each stack's CLI diff in a ```diff block (truncated to fit a
// comment).
func writeMarkdown(w io.Writer, r Review, failOnSecurity bool) error {
	var b strings.Builder
	b.WriteString(commentMarker + "\n")
	fmt.Fprintf(&b, "### Infrastructure diff: `%s` (%s) → %s\n\n", r.BaseShort, mdEscape(r.BaseRef), mdEscape(r.HeadLabel))
	b.WriteString("| Stack | Resources changed | Added | Removed | Modified | IAM / security |\n")
	b.WriteString("|---|---:|---:|---:|---:|---|\n")
	for _, s := range r.Stacks {
		added, removed, modified := s.Diff.Count()
		sec := "no"
		if n := len(s.Diff.SecurityChanges()); n > 0 {
			sec = fmt.Sprintf("**yes** (%d)", n)
		}
		name := "`" + s.Stack + "`"
		if s.New {
			name += " (new)"
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %s |\n", name, added+removed+modified, added, removed, modified, sec)
	}
	if r.Security() {
		b.WriteString("\n**Security-relevant changes** (IAM, resource policies, Lambda permissions, security groups, authorizers, auth settings)")
		if failOnSecurity {
			b.WriteString(": this run used `-fail-on-security` and exits 3 (a prod deploy then waits for the `prod-security` approval)")
		}
		b.WriteString(":\n\n")
		for _, s := range r.Stacks {
			for _, c := range s.Diff.SecurityChanges() {
				fmt.Fprintf(&b, "- `%s` %s\n", s.Stack, mdEscape(c.String()))
			}
		}
	}
	b.WriteString("\n")

	budget := maxMarkdown - b.Len()
	for i, s := range r.Stacks {
		share := budget / (len(r.Stacks) - i)
		block := diffBlock(s, share)
		budget -= len(block)
		b.WriteString(block)
	}
	b.WriteString("\n<sub>Offline `cdk diff` of synthesized templates; reproduce with `make diff-review BASE=" + mdEscape(r.BaseRef) + "`.</sub>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// diffBlock is one stack's collapsible diff, cut to at most limit bytes.
func diffBlock(s StackResult, limit int) string {
	open := ""
	if len(s.Diff.SecurityChanges()) > 0 {
		open = " open"
	}
	head := fmt.Sprintf("<details%s><summary><code>%s</code> diff</summary>\n\n", open, s.Stack)
	text := diffMarkers(s.CLIDiff)
	fence := strings.Repeat("`", max(3, longestRun(text, '`')+1))
	tail := fence + "\n\n</details>\n"
	room := limit - len(head) - len(fence) - len("diff\n") - len(tail) - 1
	if len(text) > room {
		note := "\n… diff truncated to fit a comment: run `make diff-review` for the rest"
		cut := max(room-len(note), 0)
		if i := strings.LastIndexByte(text[:cut], '\n'); i >= 0 {
			cut = i
		}
		text = strings.ToValidUTF8(text[:cut], "") + note
	}
	return head + fence + "diff\n" + text + "\n" + tail
}

// diffMarkers prefixes each line of the CLI's diff with the mark GitHub's
// diff highlighting understands: "+" for added ([+], "│ + │" in the IAM
// table), "-" for removed, "!" for modified resources, " " otherwise.
func diffMarkers(text string) string {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		mark := " "
		switch {
		case strings.Contains(l, "[+]"), strings.HasPrefix(l, "│ + │"):
			mark = "+"
		case strings.Contains(l, "[-]"), strings.HasPrefix(l, "│ - │"):
			mark = "-"
		case strings.HasPrefix(l, "[~]"):
			mark = "!"
		}
		lines[i] = mark + l
	}
	return strings.Join(lines, "\n")
}

func longestRun(s string, c byte) int {
	best, n := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			n++
			best = max(best, n)
		} else {
			n = 0
		}
	}
	return best
}

// mdEscape keeps refs and labels from breaking the table or the text.
func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;", "`", "'").Replace(s)
}
