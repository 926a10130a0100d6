package tscodec

import "strings"

// zstdDict is the history every block's zstd frame starts from
// (compression bodyZstdDict, dictionary id dictID): the payload templates
// the firmware sends (esp32/lib/reading.py), as the codec cuts them (0x00
// where a number was), in the firmware's key order and in PostgreSQL
// jsonb's (keys by length, ", " and ": "), with its error texts. A day of
// one device holds a few hundred readings, and without it the templates
// were most of a day block's fixed cost (about 0.8 bytes a reading);
// with it they cost a few bytes. It is part of the format: changing it
// needs a new id, and blocks with the old id must still decode.
var zstdDict = []byte(strings.Join([]string{
	"\x00\x01{\"voltage_v\":\x00,\"current_ma\":\x00,\"power_mw\":\x00,\"sensor\":{\"bmp280\":{\"temperature_c\":\x00,\"pressure_hpa\":\x00},\"ina219\":{\"shunt_ohms\":\x00,\"max_current_a\":\x00}}}",
	"\x00\x01{\"sensor\":{\"bmp280\":{\"temperature_c\":\x00,\"pressure_hpa\":\x00},\"ina219\":{\"shunt_ohms\":\x00,\"max_current_a\":\x00}},\"device\":{\"firmware\":\"\",\"uptime_s\":\x00,\"free_heap\":\x00,\"rssi_dbm\":\x00,\"queue_depth\":\x00,\"dropped\":\x00,\"dead_lettered\":\x00,\"last_error\":null,\"reset_cause\":\"power_on\",\"boot\":\x00,\"ca\":{\"active\":\"\",\"pending\":null}}}",
	"\x00\x01{\"sensor\":{\"bmp280\":{\"error\":\"BMP280 at 0x76: [Errno 116] ETIMEDOUT\"},\"ina219\":{\"shunt_ohms\":\x00,\"max_current_a\":\x00,\"error\":\"INA219 at 0x40: [Errno 19] ENODEV\"}},\"non_finite\":[\"temperature_c\",\"pressure_hpa\",\"voltage_v\",\"current_ma\",\"power_mw\"],\"source\":\"backfill\"}",
	"\x00\x01{\"sensor\": {\"bmp280\": {\"pressure_hpa\": \x00, \"temperature_c\": \x00}, \"ina219\": {\"shunt_ohms\": \x00, \"max_current_a\": \x00}}, \"power_mw\": \x00, \"voltage_v\": \x00, \"current_ma\": \x00}",
	"\x00\x01{\"device\": {\"boot\": \x00, \"dropped\": \x00, \"rssi_dbm\": \x00, \"uptime_s\": \x00, \"firmware\": \"\", \"free_heap\": \x00, \"last_error\": null, \"queue_depth\": \x00, \"reset_cause\": \"power_on\", \"dead_lettered\": \x00}, \"sensor\": {\"bmp280\": {\"pressure_hpa\": \x00, \"temperature_c\": \x00}, \"ina219\": {\"shunt_ohms\": \x00, \"max_current_a\": \x00}}}",
}, ""))

const dictID = 0x74770001 // "tw", dictionary 1
