package traces

import (
	"time"
)

// appendTime appends t in UTC as RFC 3339 with as many fractional digits as needed (up to 9):
// the form every text format writes.
func appendTime(b []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(b, time.RFC3339Nano)
}

// ParseTime parses an RFC 3339 timestamp (or the same with a space for the "T") and returns it in
// UTC; ok is false when s is not one. The common form with a "Z" zone does not allocate. Importers
// use it for the ISO-8601 timestamps of logs.
func ParseTime(s []byte) (t time.Time, ok bool) { return parseTime(s) }

// parseTime parses an RFC 3339 timestamp and returns it in UTC. The canonical form
// "2006-01-02T15:04:05.999999999Z" is parsed without allocating; other offsets and forms fall back to
// the time package. A space instead of 'T' is accepted, as many exports write it.
func parseTime(s []byte) (time.Time, bool) {
	if t, ok := parseTimeFast(s); ok {
		return t, true
	}
	str := string(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00"} {
		if t, err := time.Parse(layout, str); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func parseTimeFast(s []byte) (time.Time, bool) {
	// YYYY-MM-DDTHH:MM:SS[.frac]Z
	if len(s) < 20 || s[len(s)-1] != 'Z' || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hour, ok4 := digits(s[11:13])
	min, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return time.Time{}, false
	}
	nsec := 0
	rest := s[19 : len(s)-1]
	if len(rest) > 0 {
		if rest[0] != '.' || len(rest) < 2 || len(rest) > 10 {
			return time.Time{}, false
		}
		frac, ok := digits(rest[1:])
		if !ok {
			return time.Time{}, false
		}
		for i := len(rest) - 1; i < 9; i++ {
			frac *= 10
		}
		nsec = frac
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || min > 59 || sec > 59 {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, min, sec, nsec, time.UTC), true
}

func digits(s []byte) (int, bool) {
	v := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
