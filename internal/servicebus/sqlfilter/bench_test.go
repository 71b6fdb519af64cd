package sqlfilter

import "testing"

const benchFilter = "sys.Label = 'order' AND quantity > 10 AND color IN ('red', 'green', 'blue') " +
	"AND region LIKE 'eu-%' AND NOT EXISTS(cancelled)"

func benchMessage() *MapMessage {
	return withSys(u("quantity", int32(12), "color", "blue", "region", "eu-west", "priority", "high"),
		SysLabel, "order", SysMessageID, "m-1")
}

func BenchmarkMatch(b *testing.B) {
	f, err := Parse(benchFilter)
	if err != nil {
		b.Fatal(err)
	}
	m := benchMessage()
	b.ReportAllocs()
	for b.Loop() {
		ok, err := f.Match(m)
		if !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkCorrelationMatch(b *testing.B) {
	f := &CorrelationFilter{Subject: "order", Properties: map[string]any{"color": "blue"}}
	m := benchMessage()
	b.ReportAllocs()
	for b.Loop() {
		if !f.Match(m) {
			b.Fatal("no match")
		}
	}
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(benchFilter); err != nil {
			b.Fatal(err)
		}
	}
}
