package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// maxRanges is how many ranges one request may ask for. A device resumes
// a download with one; more are answered as several parts of one
// multipart answer, where 2,000 one-byte ranges turned a 12 KB header into
// a 295 KB answer. RFC 9110 (14.2) lets a server refuse "many small
// ranges" as a sign of a broken client or an attack.
const maxRanges = 4

// limitRanges vets a request's Range header before http.ServeContent
// answers it, for a body of size bytes whose entity tag is etag, where
// ServeContent departs from RFC 9110 (14.2):
//   - a unit other than bytes is ignored (the whole body, 200), not 416;
//   - a suffix range of 0 bytes (bytes=-0) is unsatisfiable, not a 206
//     with Content-Range bytes N-(N-1)/N;
//   - more than maxRanges ranges are refused (416).
//
// Unsatisfiable ranges beside satisfiable ones are dropped; when none is
// left the answer is 416 with Content-Range: bytes */size. It returns
// false when it answered. A Range that If-Range makes moot is left to
// ServeContent, which ignores it then.
func limitRanges(w http.ResponseWriter, r *http.Request, size int64, etag string) bool {
	h := r.Header.Get("Range")
	if h == "" {
		return true
	}
	if ir := r.Header.Get("If-Range"); ir != "" && ir != etag {
		return true
	}
	unit, set, ok := strings.Cut(h, "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		r.Header.Del("Range") // an unknown unit: the whole body
		return true
	}
	var keep []string
	n := 0
	for spec := range strings.SplitSeq(set, ",") {
		spec = strings.TrimSpace(spec)
		if spec == "" {
			continue
		}
		if n++; n > maxRanges {
			refuseRange(w, size, fmt.Sprintf("at most %d ranges a request", maxRanges))
			return false
		}
		first, last, ok := strings.Cut(spec, "-")
		if !ok {
			r.Header.Del("Range") // not a range set: ignored, as RFC 9110 allows
			return true
		}
		if first == "" { // a suffix: the last N bytes
			k, err := strconv.ParseInt(last, 10, 64)
			if err != nil || k < 0 {
				r.Header.Del("Range")
				return true
			}
			if k > 0 && size > 0 {
				keep = append(keep, spec)
			}
			continue
		}
		start, err := strconv.ParseInt(first, 10, 64)
		if err != nil || start < 0 {
			r.Header.Del("Range")
			return true
		}
		if last != "" {
			end, err := strconv.ParseInt(last, 10, 64)
			if err != nil || end < start {
				r.Header.Del("Range")
				return true
			}
		}
		if start < size {
			keep = append(keep, spec)
		}
	}
	if len(keep) == 0 {
		refuseRange(w, size, "no range of the request lies within the file")
		return false
	}
	r.Header.Set("Range", "bytes="+strings.Join(keep, ","))
	return true
}

func refuseRange(w http.ResponseWriter, size int64, why string) {
	w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", size))
	writeJSON(w, http.StatusRequestedRangeNotSatisfiable, map[string]string{
		"error": fmt.Sprintf("Range not satisfiable: %s (the file is %d bytes): ask for one range such as bytes=0- or bytes=%d-", why, size, size/2)})
}
