package clean

import (
	"testing"

	"github.com/pinpipe/pinpipe/record"
)

func BenchmarkClean(b *testing.B) {
	for _, tc := range []struct {
		kind record.Kind
		raw  string
	}{
		{record.Pin, `{"index": 7528, "unique_id": "fbe53c66-3442-4773-b19e-d3ec6f54dddf", "title": "No Title Data Available", "description": "No description available Story format", "poster_name": "User Info Error", "follower_count": "User Info Error", "tag_list": "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e", "is_image_or_video": "multi-video(story page format)", "image_src": "Image src error.", "downloaded": 0, "save_location": "Local save in /data/mens-fashion", "category": "mens-fashion"}`},
		{record.Geo, `{"ind": 7528, "timestamp": "2020-08-28 03:52:47", "latitude": -89.9787, "longitude": -173.293, "country": "Albania"}`},
		{record.User, `{"ind": 7528, "first_name": "Abigail", "last_name": "Ali", "age": 20, "date_joined": "2015-10-24 11:23:51"}`},
	} {
		b.Run(string(tc.kind), func(b *testing.B) {
			raw := []byte(tc.raw)
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Clean(tc.kind, raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
