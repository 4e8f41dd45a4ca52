package record

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNames(t *testing.T) {
	assert.Equal(t, "0ec858bf1407.pin", Topic("0ec858bf1407", Pin))
	assert.Equal(t, "streaming-0ec858bf1407-geo", Stream("0ec858bf1407", Geo))
	assert.Equal(t, "my_user_user_table", StreamTable("my-user", User))
	k, ok := KindOfTopic("u1", "u1.geo")
	assert.True(t, ok)
	assert.Equal(t, Geo, k)
	_, ok = KindOfTopic("u1", "u2.geo")
	assert.False(t, ok)
	k, ok = KindOfStream("u1", "streaming-u1-user")
	assert.True(t, ok)
	assert.Equal(t, User, k)
	_, ok = KindOfStream("u1", "streaming-u1-post")
	assert.False(t, ok)
}

func TestValidUserID(t *testing.T) {
	for _, id := range []string{"0ec858bf1407", "demo", "a-b"} {
		assert.NoError(t, ValidUserID(id), id)
	}
	for _, id := range []string{"", "-a", "A", "a_b", "a.b", "abcdefghijklmnopqrstuvwxyz0123456"} {
		assert.Error(t, ValidUserID(id), id)
	}
}

func TestParseTime(t *testing.T) {
	want := time.Date(2020, 8, 28, 3, 52, 47, 0, time.UTC)
	for _, s := range []string{"2020-08-28 03:52:47", "2020-08-28T03:52:47", "2020-08-28T03:52:47Z", "2020-08-28T05:52:47+02:00"} {
		got, err := ParseTime(s)
		require.NoError(t, err, s)
		assert.True(t, want.Equal(got), s)
	}
	for _, s := range []string{"", "2020-08-28", "28/08/2020 03:52:47", "2020-13-28 03:52:47"} {
		_, err := ParseTime(s)
		assert.ErrorContains(t, err, "datetime", s)
	}
	assert.Equal(t, "2020-08-28 03:52:47", FormatTime(want))
}

// TestParseTimeFastPath checks the fast path against time.Parse on valid and invalid forms.
func TestParseTimeFastPath(t *testing.T) {
	for _, s := range []string{"2020-08-28 03:52:47", "2020-08-28T03:52:47", "2020-02-28 23:59:59", "2020-02-29 00:00:00",
		"2021-02-29 00:00:00", "2020-13-01 00:00:00", "2020-00-10 00:00:00", "2020-01-01 24:00:00", "2020-01-01 00:60:00",
		"2020-01-01 00:00:60", "2020-01-0a 00:00:00", "2020-01-01_00:00:00", "0000-01-01 00:00:00", "2020-04-31 00:00:00"} {
		got, err := ParseTime(s)
		want, werr := time.Parse("2006-01-02 15:04:05", strings.Replace(s, "T", " ", 1))
		if (err == nil) != (werr == nil) || err == nil && !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; time.Parse gives %v, %v", s, got, err, want, werr)
		}
	}
}
