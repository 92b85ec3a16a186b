package loadtest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/gobwas/ws"

	"github.com/lineage-arena/lineage/loadtest"
)

// A load of three clients against a tiny server that speaks the protocol:
// a welcome, then three events, then it answers the client's close. Only
// the figures that do not depend on timing are printed.
func ExampleRun() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, _, err := ws.UpgradeHTTP(r, w)
		if err != nil {
			return
		}
		defer conn.Close()
		now := time.Now().UTC().Format(time.RFC3339Nano)
		msgs := []string{`{"type":"welcome","client_id":1,"timestamp":"` + now + `","sequence":0}`}
		for seq := 1; seq <= 3; seq++ {
			msgs = append(msgs, fmt.Sprintf(`{"event_type":"market","market":{"symbol":"BTC-USD","price":45000,"timestamp":%q},"agent":null,"sequence":%d}`, now, seq))
		}
		for _, m := range msgs {
			if ws.WriteFrame(conn, ws.NewTextFrame([]byte(m))) != nil {
				return
			}
		}
		for { // until the client's close, which is answered
			f, err := ws.ReadFrame(conn)
			if err != nil {
				return
			}
			if f.Header.OpCode == ws.OpClose {
				ws.WriteFrame(conn, ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))
				return
			}
		}
	}))
	defer srv.Close()

	rep, err := loadtest.Run(context.Background(), loadtest.Config{
		URL:      "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws",
		Clients:  3,
		Duration: 50 * time.Millisecond,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d connected, %d welcomed, %d failed\n", rep.Connect.Connected, rep.Connect.Welcomed, rep.Connect.Failed)
	fmt.Printf("%d live messages, %d gaps, %d duplicates, %d dropped\n", rep.Delivery.Messages, rep.Order.Gaps, rep.Order.Duplicates, len(rep.Dropped))
	// Output:
	// 3 connected, 3 welcomed, 0 failed
	// 9 live messages, 0 gaps, 0 duplicates, 0 dropped
}
