package sqlfilter

import "testing"

func TestCorrelationFilter(t *testing.T) {
	msg := withSys(u("color", "Red", "n", int32(5), "f", 2.5, "nil", nil, "b", true),
		SysCorrelationID, "high", SysLabel, "red", SysReplyTo, "johndoe@contoso.com",
		SysMessageID, "m1", SysTo, "to", SysSessionID, "s", SysReplyToSessionID, "rs", SysContentType, "application/json")
	tests := []struct {
		name string
		f    CorrelationFilter
		want bool
	}{
		{"empty", CorrelationFilter{}, true},
		{"correlation id", CorrelationFilter{CorrelationID: "high"}, true},
		{"correlation id case", CorrelationFilter{CorrelationID: "High"}, false},
		{"subject and correlation", CorrelationFilter{Subject: "red", CorrelationID: "high"}, true},
		{"all system", CorrelationFilter{CorrelationID: "high", MessageID: "m1", To: "to", ReplyTo: "johndoe@contoso.com",
			Subject: "red", SessionID: "s", ReplyToSessionID: "rs", ContentType: "application/json"}, true},
		{"one wrong", CorrelationFilter{CorrelationID: "high", MessageID: "m2"}, false},
		{"sys and user", CorrelationFilter{Subject: "red", ReplyTo: "johndoe@contoso.com",
			Properties: map[string]any{"color": "Red"}}, true},
		{"user value case", CorrelationFilter{Properties: map[string]any{"color": "red"}}, false},
		{"user name case-insensitive", CorrelationFilter{Properties: map[string]any{"COLOR": "Red"}}, true},
		{"missing user", CorrelationFilter{Properties: map[string]any{"size": "L"}}, false},
		{"number promotion", CorrelationFilter{Properties: map[string]any{"n": int64(5), "f": 2.5}}, true},
		{"number mismatch", CorrelationFilter{Properties: map[string]any{"n": 6}}, false},
		{"type mismatch", CorrelationFilter{Properties: map[string]any{"n": "5"}}, false},
		{"bool", CorrelationFilter{Properties: map[string]any{"b": true}}, true},
		{"nil value", CorrelationFilter{Properties: map[string]any{"nil": nil}}, true},
		{"nil vs value", CorrelationFilter{Properties: map[string]any{"n": nil}}, false},
		{"value vs nil", CorrelationFilter{Properties: map[string]any{"nil": 1}}, false},
	}
	for _, tc := range tests {
		if got := tc.f.Match(msg); got != tc.want {
			t.Errorf("%s: Match = %v, want %v", tc.name, got, tc.want)
		}
	}
	if (&CorrelationFilter{}).IsEmpty() != true || (&CorrelationFilter{To: "x"}).IsEmpty() {
		t.Error("IsEmpty")
	}
	// A system property that is not a string never matches.
	odd := withSys(u(), SysCorrelationID, 5)
	if (&CorrelationFilter{CorrelationID: "5"}).Match(odd) {
		t.Error("non-string system property matched")
	}
	if (&CorrelationFilter{CorrelationID: "x"}).Match(u()) {
		t.Error("absent system property matched")
	}
}
