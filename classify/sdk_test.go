package classify

import (
	"strings"
	"testing"
)

// parseSDKLower is the original, allocating formulation of parseSDK
// (lower-case the whole sdkVersion, then compare prefixes), with ASCII case
// folding (the documented names are ASCII): the reference the
// allocation-free version must agree with.
func parseSDKLower(sdkVersion, protocol string) uint8 {
	s := asciiLower(strings.TrimSpace(sdkVersion))
	var f sdkFamily
	switch {
	case s == "":
	case strings.HasPrefix(s, ".net"), strings.HasPrefix(s, "microsoft.azure.devices.client"):
		f = sdkDotNet
	case strings.HasPrefix(s, "com.microsoft.azure.sdk.iot"), strings.HasPrefix(s, "com.microsoft.azure.iothub-java-client"),
		strings.Contains(s, "iothub-java-client"):
		f = sdkJava
	case strings.HasPrefix(s, "azure-iot-device-iothub-py"):
		f = sdkPython
	case strings.HasPrefix(s, "azure-iot-device"):
		f = sdkNode
	case strings.HasPrefix(s, "iothubclient"), s == "c", strings.HasPrefix(s, "c/"), strings.HasPrefix(s, "c +"),
		strings.HasPrefix(s, "c+"), strings.HasPrefix(s, "c ("):
		f = sdkC
	}
	b := uint8(f)
	if strings.HasPrefix(asciiLower(protocol), "amqp") {
		b |= sdkAMQP
	}
	return b
}

func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// TestParseSDK: the sdkVersion prefixes of reference/iothub-telemetry.md
// §6.5, in any case, with the protocol's AMQP bit.
func TestParseSDK(t *testing.T) {
	cases := []struct {
		sdk, protocol string
		want          uint8
	}{
		{".NET/1.42.3 (.NET 6.0.25; Linux 5.15.0-1051-azure #59-Ubuntu; X64)", "Mqtt", uint8(sdkDotNet)},
		{".net/1.21.2 (.NET Framework 4.8.4200.0; Microsoft Windows 10.0.17763)", "MqttWs", uint8(sdkDotNet)},
		{"Microsoft.Azure.Devices.Client/1.41.0", "Amqp", uint8(sdkDotNet) | sdkAMQP},
		{"com.microsoft.azure.sdk.iot.iot-device-client/2.4.1 (Java 17.0.9; Linux 5.15.0; amd64)", "Mqtt", uint8(sdkJava)},
		{"COM.MICROSOFT.AZURE.IOTHUB-JAVA-CLIENT/1.30.1", "AmqpWs", uint8(sdkJava) | sdkAMQP},
		{"legacy iothub-java-client/1.0", "Mqtt", uint8(sdkJava)},
		{"azure-iot-device-iothub-py/2.12.0 (Python 3.10.12; Linux 5.15.0; x86_64)", "Mqtt", uint8(sdkPython)},
		{"azure-iot-device/1.17.1 (node v10.16.0; Windows_NT 10.0.18363; x64)", "Mqtt", uint8(sdkNode)},
		{"IoTHubClient/1.2.14 (native; freertos; esp platform)", "Mqtt", uint8(sdkC)},
		{"C + (OSSimplified = Eclipse ThreadX)", "Mqtt", uint8(sdkC)},
		{"  c  ", "Mqtt", uint8(sdkC)},
		{"c/1.0", "", uint8(sdkC)},
		{"", "Amqp", sdkAMQP},
		{"custom-client/0.1", "Mqtt", 0},
		{"cobol/1", "Mqtt", 0},
	}
	for _, c := range cases {
		if got := parseSDK(c.sdk, c.protocol); got != c.want {
			t.Errorf("parseSDK(%q, %q) = %#x, want %#x", c.sdk, c.protocol, got, c.want)
		}
		if ref := parseSDKLower(c.sdk, c.protocol); ref != c.want {
			t.Errorf("reference parseSDKLower(%q, %q) = %#x, want %#x", c.sdk, c.protocol, ref, c.want)
		}
	}
}

// FuzzParseSDK: the allocation-free parser agrees with the lower-casing one
// on any input (seed corpus: the documented sdkVersion strings).
func FuzzParseSDK(f *testing.F) {
	for _, s := range []string{".NET/1.42.3 (X64)", "com.microsoft.azure.sdk.iot.iot-device-client/2.4.1", "azure-iot-device/1.17.1",
		"azure-iot-device-iothub-py/2.12.0", "iothubclient/1.2.14", "C + (OSSimplified = Eclipse ThreadX)", "C", "ĸ.net", ""} {
		f.Add(s, "Mqtt")
		f.Add(s, "AMQP")
	}
	f.Fuzz(func(t *testing.T, sdk, protocol string) {
		got, want := parseSDK(sdk, protocol), parseSDKLower(sdk, protocol)
		if got != want {
			t.Fatalf("parseSDK(%q, %q) = %#x, lower-casing reference %#x", sdk, protocol, got, want)
		}
	})
}
