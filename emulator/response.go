package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// outcome is what became of one record in one request.
type outcome uint8

const (
	accepted outcome = iota // the API confirmed the record
	retry                   // not confirmed, worth sending again (throttled, server error, no answer)
	fatal                   // refused for good (bad request, forbidden, unknown topic): give up
)

// verdict is the outcome of one record and, when it was not accepted, why.
type verdict struct {
	out    outcome
	reason string
}

// retryableStatus reports whether an HTTP status is worth retrying: throttling, timeouts and
// server errors. Everything else outside 2xx is the caller's fault and will not get better.
func retryableStatus(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500
}

// retryableKinesis lists the Kinesis error types that go away by themselves.
var retryableKinesis = map[string]bool{
	"ProvisionedThroughputExceededException": true,
	"InternalFailure":                        true,
	"ServiceUnavailable":                     true,
	"ThrottlingException":                    true,
	"LimitExceededException":                 true,
	"KMSThrottlingException":                 true,
}

// kinesisType strips the namespace API Gateway may leave on a Kinesis error type
// ("com.amazonaws.kinesis.v20131202#ProvisionedThroughputExceededException").
func kinesisType(t string) string {
	if i := strings.LastIndexByte(t, '#'); i >= 0 {
		return t[i+1:]
	}
	return t
}

// errorDoc is every error body shape the API answers with: the REST proxy's
// {"error_code":N,"message":".."}, API Gateway's {"message":".."} and the Kinesis API's
// {"__type":"..","message":".."}.
type errorDoc struct {
	ErrorCode json.RawMessage `json:"error_code"`
	Message   string          `json:"message"`
	Message2  string          `json:"Message"`
	Type      string          `json:"__type"`
}

func (e *errorDoc) text() string {
	msg := e.Message
	if msg == "" {
		msg = e.Message2
	}
	parts := make([]string, 0, 3)
	if t := kinesisType(e.Type); t != "" {
		parts = append(parts, t)
	}
	if c := string(e.ErrorCode); c != "" && c != "null" {
		parts = append(parts, "error_code "+c)
	}
	if msg != "" {
		parts = append(parts, msg)
	}
	return strings.Join(parts, ": ")
}

// snippet is a short printable excerpt of a body for error messages.
func snippet(body []byte) string {
	body = bytes.TrimSpace(body)
	const max = 120
	if len(body) > max {
		return strconv.Quote(string(body[:max])) + "…"
	}
	return strconv.Quote(string(body))
}

// fill sets all n verdicts to v.
func fill(res []verdict, v verdict) []verdict {
	for i := range res {
		res[i] = v
	}
	return res
}

// checkResponse turns one HTTP answer into one verdict per record of the request (n records):
// the REST proxy's per-record offsets, PutRecord's SequenceNumber, or PutRecords' per-record
// entries. res is reused when it has room. It never panics, whatever the body.
func checkResponse(mode Mode, batched bool, status int, body []byte, n int, res []verdict) []verdict {
	if cap(res) >= n {
		res = res[:n]
	} else {
		res = make([]verdict, n)
	}
	if status < 200 || status > 299 {
		var e errorDoc
		reason := fmt.Sprintf("HTTP %d", status)
		if json.Unmarshal(body, &e) == nil && e.text() != "" {
			reason += ": " + e.text()
		} else if len(bytes.TrimSpace(body)) > 0 {
			reason += ": " + snippet(body)
		}
		out := fatal
		if retryableStatus(status) || retryableKinesis[kinesisType(e.Type)] {
			out = retry
		}
		return fill(res, verdict{out, reason})
	}
	switch {
	case mode == Batch:
		return checkKafka(body, res)
	case batched:
		return checkPutRecords(body, res)
	default:
		return checkPutRecord(body, res)
	}
}

// kafkaResponse is the REST proxy v2 produce answer: one offset entry per record, in order.
type kafkaResponse struct {
	Offsets []struct {
		Partition *int32           `json:"partition"`
		Offset    *int64           `json:"offset"`
		ErrorCode *json.RawMessage `json:"error_code"`
		Error     *string          `json:"error"`
	} `json:"offsets"`
}

// Kafka REST proxy v2 per-record error codes: 1 is a non-retriable Kafka error, 2 a retriable one.
const kafkaRetriable = "2"

func checkKafka(body []byte, res []verdict) []verdict {
	var r kafkaResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return fill(res, verdict{retry, "unreadable REST proxy answer " + snippet(body)})
	}
	for i := range res {
		if i >= len(r.Offsets) {
			res[i] = verdict{retry, fmt.Sprintf("REST proxy answered %d offsets for %d records", len(r.Offsets), len(res))}
			continue
		}
		o := r.Offsets[i]
		code := "null"
		if o.ErrorCode != nil {
			code = string(bytes.TrimSpace(*o.ErrorCode))
		}
		switch {
		case code == "null" && o.Offset != nil:
			res[i] = verdict{out: accepted}
		case code == "null":
			res[i] = verdict{retry, "REST proxy answered no offset and no error"}
		default:
			msg := "REST proxy error_code " + code
			if o.Error != nil && *o.Error != "" {
				msg += ": " + *o.Error
			}
			out := fatal
			if code == kafkaRetriable {
				out = retry
			}
			res[i] = verdict{out, msg}
		}
	}
	return res
}

// putRecordResponse is Kinesis PutRecord's answer, or the error document API Gateway passes
// through with status 200 when no integration response maps it.
type putRecordResponse struct {
	SequenceNumber string `json:"SequenceNumber"`
	ShardID        string `json:"ShardId"`
	errorDoc
}

func checkPutRecord(body []byte, res []verdict) []verdict {
	var r putRecordResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return fill(res, verdict{retry, "unreadable PutRecord answer " + snippet(body)})
	}
	if r.SequenceNumber != "" {
		return fill(res, verdict{out: accepted})
	}
	if r.Type == "" && r.text() == "" {
		return fill(res, verdict{retry, "PutRecord answered no SequenceNumber: " + snippet(body)})
	}
	out := fatal
	if retryableKinesis[kinesisType(r.Type)] {
		out = retry
	}
	return fill(res, verdict{out, "PutRecord: " + r.text()})
}

// putRecordsResponse is Kinesis PutRecords' answer: one entry per record, in order, each with a
// SequenceNumber or an ErrorCode.
type putRecordsResponse struct {
	FailedRecordCount *int `json:"FailedRecordCount"`
	Records           []struct {
		SequenceNumber string `json:"SequenceNumber"`
		ErrorCode      string `json:"ErrorCode"`
		ErrorMessage   string `json:"ErrorMessage"`
	} `json:"Records"`
	errorDoc
}

func checkPutRecords(body []byte, res []verdict) []verdict {
	var r putRecordsResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return fill(res, verdict{retry, "unreadable PutRecords answer " + snippet(body)})
	}
	if r.Records == nil && r.FailedRecordCount == nil {
		out := retry
		if r.Type != "" && !retryableKinesis[kinesisType(r.Type)] {
			out = fatal
		}
		reason := r.text()
		if reason == "" {
			reason = "no Records: " + snippet(body)
		}
		return fill(res, verdict{out, "PutRecords: " + reason})
	}
	for i := range res {
		if i >= len(r.Records) {
			res[i] = verdict{retry, fmt.Sprintf("PutRecords answered %d entries for %d records", len(r.Records), len(res))}
			continue
		}
		e := r.Records[i]
		switch {
		case e.ErrorCode != "":
			out := fatal
			if retryableKinesis[e.ErrorCode] {
				out = retry
			}
			res[i] = verdict{out, "PutRecords: " + e.ErrorCode + ": " + e.ErrorMessage}
		case e.SequenceNumber != "":
			res[i] = verdict{out: accepted}
		default:
			res[i] = verdict{retry, "PutRecords entry with neither SequenceNumber nor ErrorCode"}
		}
	}
	return res
}

// maxRetryAfter bounds a server's Retry-After so a silly value cannot overflow a timer.
const maxRetryAfter = time.Hour

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP date. It returns 0 when
// the header is absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 || secs != secs {
			return 0
		}
		if secs >= maxRetryAfter.Seconds() {
			return maxRetryAfter
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d <= 0 {
			return 0
		}
		return min(d, maxRetryAfter)
	}
	return 0
}
