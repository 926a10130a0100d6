package storetest

import (
	"reflect"
	"strings"
	"testing"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// Devices are counted by the CAs they report in payload.device.ca; old
// firmware (no "ca"), a device without ca_cert ("ca": null) and a report
// of the wrong shape count as "", never as an error.
func testCountDeviceCAs(t *testing.T, s store.Store) {
	oldCA, newCA := strings.Repeat("a", 64), strings.Repeat("b", 64)
	createDevice(t, s, "silent-one") // never reported
	insert(t, s, []thermowatt.Reading{
		withHealth(rd("a", 0, 20), `{"firmware":"1.0","ca":{"active":"`+oldCA+`","waiting":null}}`),
		withHealth(rd("b", 0, 20), `{"firmware":"1.1","ca":{"active":"`+oldCA+`","waiting":"`+newCA+`"}}`),
		withHealth(rd("c", 0, 20), `{"firmware":"1.1","ca":{"active":"`+oldCA+`","waiting":"`+newCA+`"}}`),
		withHealth(rd("d", 0, 20), `{"firmware":"1.1","ca":{"active":"`+newCA+`","waiting":null}}`),
		withHealth(rd("e", 0, 20), `{"firmware":"0.9"}`),
		withHealth(rd("f", 0, 20), `{"ca":null}`),
		withHealth(rd("g", 0, 20), `{"ca":"odd"}`),
		withHealth(rd("h", 0, 20), `{"ca":{"active":7,"waiting":[]}}`),
	}, base)
	got, err := s.CountDeviceCAs(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []store.CACount{
		{Active: "", Waiting: "", Devices: 5},
		{Active: oldCA, Waiting: "", Devices: 1},
		{Active: oldCA, Waiting: newCA, Devices: 2},
		{Active: newCA, Waiting: "", Devices: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("CountDeviceCAs = %+v\nwant %+v", got, want)
	}
}
