package cli

import (
	"encoding/json"
	"fmt"
	"strings"
)

// deviceConfig is esp32/config.json, in the order of config.example.json,
// with its defaults (deviceconfig_test.go holds them to the example, so a
// default changed on the firmware side shows up here as a failing test).
type deviceConfig struct {
	WiFi               []wifiNetwork `json:"wifi"`
	BaseURL            string        `json:"base_url"`
	DeviceID           string        `json:"device_id"`
	APIKey             string        `json:"api_key"`
	AllowHTTP          bool          `json:"allow_http,omitempty"`
	OTAPublicKey       *string       `json:"ota_public_key"`
	CACert             *string       `json:"ca_cert"`
	IntervalS          int           `json:"interval_s"`
	I2C                i2cConfig     `json:"i2c"`
	BMP280Addr         string        `json:"bmp280_addr"`
	INA219Addr         string        `json:"ina219_addr"`
	ShuntOhms          float64       `json:"shunt_ohms"`
	MaxCurrentA        float64       `json:"max_current_a"`
	LEDPin             int           `json:"led_pin"`
	LEDActiveLow       bool          `json:"led_active_low"`
	BatchSize          int           `json:"batch_size"`
	QueueCap           int           `json:"queue_cap"`
	HTTPTimeoutS       float64       `json:"http_timeout_s"`
	ConnectTimeoutS    float64       `json:"connect_timeout_s"`
	BackoffBaseS       float64       `json:"backoff_base_s"`
	BackoffCapS        float64       `json:"backoff_cap_s"`
	NTPHost            string        `json:"ntp_host"`
	NTPIntervalS       int           `json:"ntp_interval_s"`
	WDTTimeoutS        float64       `json:"wdt_timeout_s"`
	CSVMaxBytes        int           `json:"csv_max_bytes"`
	CSVKeep            int           `json:"csv_keep"`
	LogMaxBytes        int           `json:"log_max_bytes"`
	DeadletterMaxBytes int           `json:"deadletter_max_bytes"`
	LED                bool          `json:"led"`
	LogLevel           string        `json:"log_level"`
	UpdateDeadline     int           `json:"update_deadline_cycles"`
}

type wifiNetwork struct {
	SSID     string `json:"ssid"`
	Password string `json:"password"`
}

type i2cConfig struct {
	ID   int `json:"id"`
	SCL  int `json:"scl"`
	SDA  int `json:"sda"`
	Freq int `json:"freq"`
}

// newDeviceConfig is config.example.json's defaults for one device.
func newDeviceConfig(id, apiKey, baseURL string, wifi []wifiNetwork) deviceConfig {
	return deviceConfig{
		WiFi: wifi, BaseURL: strings.TrimRight(baseURL, "/"), DeviceID: id, APIKey: apiKey,
		AllowHTTP: strings.HasPrefix(baseURL, "http://"),
		IntervalS: 300, I2C: i2cConfig{ID: 0, SCL: 22, SDA: 21, Freq: 100000},
		BMP280Addr: "0x76", INA219Addr: "0x40", ShuntOhms: 0.1, MaxCurrentA: 3.2,
		LEDPin: 2, LEDActiveLow: false, BatchSize: 20, QueueCap: 2000,
		HTTPTimeoutS: 30, ConnectTimeoutS: 20, BackoffBaseS: 5, BackoffCapS: 600,
		NTPHost: "pool.ntp.org", NTPIntervalS: 21600, WDTTimeoutS: 120,
		CSVMaxBytes: 65536, CSVKeep: 2, LogMaxBytes: 16384, DeadletterMaxBytes: 32768,
		LED: true, LogLevel: "INFO", UpdateDeadline: 3,
	}
}

// parseWiFi reads --wifi SSID:PASSWORD; the first colon separates them,
// since passwords are likelier than SSIDs to hold one.
func parseWiFi(v string) (wifiNetwork, error) {
	ssid, pw, ok := strings.Cut(v, ":")
	if !ok || ssid == "" {
		return wifiNetwork{}, fmt.Errorf("--wifi %q must be SSID:PASSWORD", v)
	}
	return wifiNetwork{SSID: ssid, Password: pw}, nil
}

func (c deviceConfig) marshal() ([]byte, error) {
	b, err := json.MarshalIndent(c, "", "  ")
	return append(b, '\n'), err
}
