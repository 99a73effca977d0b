package classify

import (
	"strings"
)

// msgClass sorts 401003 records by what their errorMessage / authType say,
// because each class has its own fix (PRODUCT.md §1).
type msgClass uint8

const (
	mcNone        msgClass = iota
	mcGeneric              // token refused: expired or badly generated
	mcClockDrift           // the device's clock is off by more than 5 minutes
	mcX509                 // thumbprint / certificate problem
	mcDeviceGone           // the hub does not contain the device, or it is disabled
	mcNotAllowed           // an authorization rule / principal does not allow access
	mcMissingAuth          // no authorization header: token not generated at all
)

var msgClassNames = [...]string{"", "token refused", "clock drift", "X.509 certificate", "device deleted or disabled",
	"access not allowed", "authorization missing"}

func (c msgClass) String() string {
	if int(c) < len(msgClassNames) {
		return msgClassNames[c]
	}
	return ""
}

// classify401003 maps a 401003's errorMessage and authType to its class.
func classify401003(msg, authType string) msgClass {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "does not contain the specified device"), strings.Contains(m, "disabled"),
		strings.Contains(m, "not found"):
		return mcDeviceGone
	case strings.Contains(m, "clock"), strings.Contains(m, "skew"), strings.Contains(m, "drift"),
		strings.Contains(m, "not yet valid"), strings.Contains(m, "in the future"):
		return mcClockDrift
	case strings.Contains(m, "thumbprint"), strings.Contains(m, "certificate") && !strings.Contains(m, "renew token or certificate"):
		return mcX509
	case strings.Contains(m, "authorization header missing"):
		return mcMissingAuth
	case strings.Contains(m, "does not allow access"), strings.Contains(m, "is not authorized"):
		return mcNotAllowed
	}
	a := strings.ToLower(authType)
	if strings.Contains(a, "x509") || strings.Contains(a, "certificate") || strings.Contains(a, "selfsigned") {
		return mcX509
	}
	return mcGeneric
}
