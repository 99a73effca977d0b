package config

import (
	"fmt"
	"strconv"
	"strings"
)

// DigestOff is Config.DigestHour when the daily digest is turned off
// (DIGEST_HOUR=off).
const DigestOff = -1

// digestHour reads DIGEST_HOUR: the UTC hour (0–23, default 8) at which
// each hub's daily digest covering the previous 24 hours falls due, or
// "off".
func (l *loader) digestHour() int {
	v := strings.ToLower(strings.TrimSpace(l.getenv("DIGEST_HOUR")))
	switch v {
	case "":
		return 8
	case "off":
		return DigestOff
	}
	h, err := strconv.Atoi(v)
	if err != nil || h < 0 || h > 23 {
		l.fail("DIGEST_HOUR", fmt.Errorf("%q is not an hour 0–23 (UTC) or off", v))
		return DigestOff
	}
	return h
}
