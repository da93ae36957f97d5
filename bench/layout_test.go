package bench

import (
	"reflect"
	"testing"
)

func TestIdleLayout(t *testing.T) {
	l := IdleLayout(5, 2)
	if l.Users != 3 || !reflect.DeepEqual(l.StreamUser, []int{0, 0, 1, 1, 2}) || !reflect.DeepEqual(l.StreamRoom, []int{-1, -1, -1, -1, -1}) {
		t.Fatalf("%+v", l)
	}
}

func TestRoomsLayout(t *testing.T) {
	tests := []struct {
		name                      string
		rooms, subs, per, posters int
		users                     int
		members                   int
		posterRooms               [][]int
	}{
		{"fanout", 1, 10000, 50, 1, 200, 200, [][]int{{0}}},
		{"rooms", 1000, 10, 1, 16, 10000, 10000, nil},
		{"uneven users", 2, 5, 2, 2, 6, 6, [][]int{{0}, {1}}},
		{"more posters than rooms", 2, 0, 1, 3, 0, 0, [][]int{{0}, {1}, {0}}},
		{"throughput", 4, 0, 1, 2, 0, 0, [][]int{{0, 2}, {1, 3}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := RoomsLayout(tc.rooms, tc.subs, tc.per, tc.posters)
			if l.Users != tc.users || len(l.Members) != tc.members || len(l.StreamUser) != tc.rooms*tc.subs {
				t.Fatalf("users %d members %d streams %d", l.Users, len(l.Members), len(l.StreamUser))
			}
			if tc.posterRooms != nil && !reflect.DeepEqual(l.PosterRooms, tc.posterRooms) {
				t.Errorf("poster rooms %v, want %v", l.PosterRooms, tc.posterRooms)
			}
			// Every stream's user is a member of the stream's room.
			member := map[[2]int]bool{}
			for _, m := range l.Members {
				member[m] = true
			}
			for i := range l.StreamUser {
				if !member[[2]int{l.StreamUser[i], l.StreamRoom[i]}] {
					t.Fatalf("stream %d: user %d not a member of room %d", i, l.StreamUser[i], l.StreamRoom[i])
				}
			}
			// Every room gets a poster when there are posters.
			if tc.posters > 0 {
				covered := map[int]bool{}
				for _, rs := range l.PosterRooms {
					for _, r := range rs {
						covered[r] = true
					}
				}
				if len(covered) != tc.rooms {
					t.Errorf("posters cover %d of %d rooms", len(covered), tc.rooms)
				}
			}
		})
	}
}
