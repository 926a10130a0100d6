package wire

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Decode must answer every body exactly as the encoding/json decoder it
// replaced (reference_test.go): the same readings, rejections (index,
// field, message), device ids and body errors.

func sameDecode(t *testing.T, body []byte) {
	t.Helper()
	got, gotErr := Decode(body, now)
	want, wantErr := referenceDecode(body, now)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || reflect.TypeOf(gotErr) != reflect.TypeOf(wantErr) {
		t.Fatalf("%q:\nerror %v\nwant  %v", body, gotErr, wantErr)
	}
	if gotErr != nil {
		g, w := gotErr.(*BodyError), wantErr.(*BodyError)
		if *g != *w {
			t.Fatalf("%q: error %+v, want %+v", body, g, w)
		}
		return
	}
	normalize(&got)
	normalize(&want)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\ngot  %+v\nwant %+v", body, got, want)
	}
}

// normalize makes empty slices nil: whether an empty list was allocated
// is not part of the answer.
func normalize(b *Batch) {
	if len(b.Readings) == 0 {
		b.Readings, b.Indexes = nil, nil
	}
	if len(b.Rejected) == 0 {
		b.Rejected = nil
	}
	for i := range b.Readings {
		if len(b.Readings[i].Payload) == 0 {
			b.Readings[i].Payload = nil
		}
	}
}

var referenceCases = []string{
	// Well-formed readings, as the firmware sends them.
	`{"deviceId":"esp32-node-01","temperature":24.3,"humidity":null,"recordedAt":"2025-02-05T09:30:00+09:00","payload":{"voltage_v":4.98,"current_ma":120.4,"power_mw":600.5}}`,
	`[{"deviceId":"a","recordedAt":"2026-11-27T00:00:00Z"},{"deviceId":"b","temperature":"x"},{"deviceId":"a","temperature":3}]`,
	` 	{"deviceId":"a"}` + "\n",
	"\v{\"deviceId\":\"a\"}\u00a0", // bytes.TrimSpace takes Unicode spaces, JSON does not
	`[ {"deviceId" : "a" , "payload" : { "voltage_v" : 1 , "x" : [ 1 , { } ] } } ]`,
	// Whole-body errors.
	``, `   `, `[]`, `[ ]`, `{}`, `{`, `[`, `[{]`, `[1,]`, `[1 2]`, `{"deviceId":"a"} x`, `[{"deviceId":"a"}] [`,
	`"x"`, `1`, `null`, `tru`, `nul`, `{"a":1}{`, `[{"a":"\x"}]`, `[{"a":"\u12"}]`, `["a` + "\x01" + `"]`,
	`[-]`, `[01]`, `[1.]`, `[1e]`, `[1e+]`, `[.5]`, `[-0.0e-0]`, `[1E400]`, `[truex]`, `[{"a" 1}]`, `[{1:1}]`,
	`{"deviceId":"a",}`, `[{"deviceId":"a"},]`, `[{"deviceId":"a"}}`, "[\"\xff\xfe\"]",
	// Readings that are not objects, and every rule.
	`[1,"x",null,true,[],{}]`,
	`{"deviceId":"a","payload":[]}`, `{"deviceId":"a","temperature":1e400}`, `{"deviceId":"a","temperature":-1e400}`,
	`{"deviceId":"a","temperature":1e-400}`, `{"deviceId":"a","temperature":-0}`,
	`{"deviceId":"a","temperature":true}`, `{"deviceId":"a","humidity":{}}`, `{"deviceId":"a","humidity":101}`,
	`{"deviceId":null}`, `{"deviceId":1}`, `{"deviceId":""}`, `{"deviceId":"a b"}`, `{"deviceId":"\u0061"}`,
	`{"deviceId":"caf\u00e9"}`, "{\"deviceId\":\"\xff\"}", `{"deviceId":"a","recordedAt":5}`,
	`{"deviceId":"a","recordedAt":"yesterday"}`, `{"deviceId":"a","recordedAt":"2019-12-31T23:59:59Z"}`,
	`{"deviceId":"a","recordedAt":"2027-01-01T00:00:00Z"}`, `{"deviceId":"a","recordedAt":"2026-11-27T03:00:00\u002e5Z"}`,
	`{"deviceId":"a","recordedAt":null,"temperature":1}`,
	`{"deviceId":"a","payload":{"voltage_v":"5"}}`, `{"deviceId":"a","payload":{"current_ma":2e6}}`,
	`{"deviceId":"a","payload":{"power_mw":-2e9}}`, `{"deviceId":"a","payload":"x"}`, `{"deviceId":"a","payload":null}`,
	`{"deviceId":"a","payload":{ "voltage_v" : 5 ,` + "\n" + ` "note":"two  words" }}`,
	`{"deviceId":"a","payload":{"big":"` + strings.Repeat("x", MaxPayloadSize) + `"}}`,
	`{"deviceId":"a","payload":{"big":"` + strings.Repeat("x", MaxPayloadSize-11) + `"}}`,
	// Names: unknown, repeated, any case, escaped.
	`{"deviceId":"a","extra":1,"more":2}`, `{"extra":1,"deviceId":"bad id"}`, `{"deviceId":"a","Payload":{"VOLTAGE_V":1}}`,
	`{"DEVICEID":"a","RecordedAt":null}`, `{"deviceId":"a","deviceId":"b"}`, `{"deviceId":"a","deviceId":null}`,
	`{"deviceId":"a","payload":{"voltage_v":1},"payload":{"current_ma":2}}`,
	`{"deviceId":"a","payload":{"voltage_v":1},"payload":3}`, `{"deviceId":"a","payload":3,"payload":{"voltage_v":2000}}`,
	`{"deviceId":"a","payload":{"voltage_v":1,"voltage_v":2000}}`, `{"device\u0049d":"a"}`,
	`{"deviceId":"a","\u212aelvin":1}`, `{"deviceId":"a","te\u006dperature":3}`, `{"deviceId":"a","ſ":1}`,
	`{"deviceId":"a","we\"ird":1}`, `{"deviceId":"a","tab\tname":1}`, "{\"deviceId\":\"a\",\"\xff\":1}",
	`{"deviceId":"a","日本":1}`, `{"deviceId":"a","":1}`, `{"deviceId":"a","payload":{"\u0056oltage_v":"x"}}`,
	// The pressure's range and the payload's nesting.
	`{"deviceId":"a","payload":{"sensor":{"bmp280":{"pressure_hpa":1.7e308}}}}`,
	`{"deviceId":"a","payload":{"sensor":{"bmp280":{"pressure_hpa":1},"bmp280":{"pressure_hpa":-1}}}}`,
	`{"deviceId":"a","payload":{"sensor":{"bmp280":{"pressure_hpa":[1e9]}},"voltage_v":2000}}`,
	`{"deviceId":"a","payload":{"s\u0065nsor":{"bmp280":{"pressure_hpa":1e5}}}}`,
	`{"deviceId":"a","payload":{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[{}]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}`,
	`{"deviceId":"a","payload":{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[{}]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}`,
	`[{"deviceId":"a"},{"deviceId":"b c"},{"deviceId":"b c","temperature":1}]`,
}

func TestDecodeMatchesReference(t *testing.T) {
	for _, body := range referenceCases {
		sameDecode(t, []byte(body))
	}
}

func TestDecodeMatchesReferenceAtLimits(t *testing.T) {
	one := `{"deviceId":"n1","temperature":1}`
	for _, n := range []int{1, MaxBatch - 1, MaxBatch, MaxBatch + 1, 3 * MaxBatch} {
		sameDecode(t, []byte("["+strings.Repeat(one+",", n-1)+one+"]"))
		sameDecode(t, []byte("["+strings.Repeat(one+",", n-1)+one+",]")) // invalid after the limit
	}
	// encoding/json allows 10,000 nested objects and arrays, not more.
	for _, depth := range []int{maxDepth - 2, maxDepth - 1, maxDepth, maxDepth + 1} {
		nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
		sameDecode(t, []byte(`{"deviceId":"a","payload":{"x":`+nest(depth-2)+`}}`))
		sameDecode(t, []byte(`[{"deviceId":"a","payload":{"x":`+nest(depth-3)+`}}]`))
		sameDecode(t, []byte(nest(depth)))
	}
}

// FuzzDecodeMatchesReference compares Decode with the decoder it
// replaced on any body (seeds in testdata/fuzz).
func FuzzDecodeMatchesReference(f *testing.F) {
	for _, body := range referenceCases {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		sameDecode(t, body)
	})
}

// batchBody is a device's batch as the firmware writes it.
func batchBody(n int, payload bool) []byte {
	items := make([]string, n)
	at := now.Add(-time.Hour)
	for i := range items {
		p := ""
		if payload {
			p = fmt.Sprintf(`,"payload":{"voltage_v":4.98,"current_ma":%d.4,"power_mw":600.5,"sensor":{"bmp280":{"pressure_hpa":1013.2}}}`, 100+i)
		}
		items[i] = fmt.Sprintf(`{"deviceId":"esp32-node-01","recordedAt":"%s","temperature":24.3,"humidity":41.5%s}`,
			at.Add(time.Duration(i)*time.Second).Format(time.RFC3339), p)
	}
	return []byte("[" + strings.Join(items, ",") + "]")
}

func benchmarkDecode(b *testing.B, decode func([]byte, time.Time) (Batch, error), body []byte, n int) {
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if batch, err := decode(body, now); err != nil || len(batch.Readings) != n {
			b.Fatal(err, batch.Rejected)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/reading")
}

// BenchmarkDecode: a batch of 100 readings with payloads, and a single
// reading (a fleet request); Reference* is the encoding/json decoder.
func BenchmarkDecode(b *testing.B) {
	batch, single := batchBody(100, true), batchBody(1, true)
	single = single[1 : len(single)-1]
	for _, d := range []struct {
		name   string
		decode func([]byte, time.Time) (Batch, error)
	}{{"decoder=scanner", Decode}, {"decoder=encoding-json", referenceDecode}} {
		b.Run(d.name+"/body=batch100", func(b *testing.B) { benchmarkDecode(b, d.decode, batch, 100) })
		b.Run(d.name+"/body=single", func(b *testing.B) { benchmarkDecode(b, d.decode, single, 1) })
	}
}

func TestBenchmarkBodiesAreValid(t *testing.T) {
	if !json.Valid(batchBody(3, true)) {
		t.Fatal("batchBody is not JSON")
	}
}
