package alerts

import (
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf8"
)

// What a device says about itself (an update's version and reason, its
// last error) goes into alerts and from there into chat: a device, or
// whoever holds its token, must not be able to ping a channel, dress up a
// link or fill the screen. Such text is quoted (quoted), and the webhook
// escapes each target's markup (slackText, and Discord's allowed_mentions
// in Send).

// maxQuoted is how many characters of one device-supplied value an alert
// quotes.
const maxQuoted = 200

// maxMessage is how many characters of a message a webhook carries:
// Discord refuses content over 2,000.
const maxMessage = 1900

// quoted is a device-supplied value as an alert quotes it: one line, at
// most maxQuoted characters, in a code span (between backticks), which
// Slack and Discord show as typed, without links, mentions or formatting.
// A backtick inside becomes ' so that the span cannot be closed early.
func quoted(v any) string {
	s, ok := v.(string)
	if !ok {
		b, _ := json.Marshal(v)
		s = string(b)
	}
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '`':
			return '\''
		case unicode.IsControl(r), r == '\u2028', r == '\u2029':
			return ' '
		}
		return r
	}, s)
	return "`" + cut(s, maxQuoted) + "`"
}

// cut shortens s to at most n characters, marking a cut with "…".
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// slackText is a message as Slack's "text" must carry it: &, < and > are
// Slack's control characters (<!channel>, <@U123>, <https://x|text>) and
// are escaped as its documentation says; an @ is followed by a word
// joiner (U+2060), so no @channel or @everyone reads as a mention to a
// tool that links names.
func slackText(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "@", "@\u2060").Replace(cut(s, maxMessage))
}
