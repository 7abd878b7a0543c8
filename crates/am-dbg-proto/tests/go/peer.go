// A Go peer for am-dbg-proto's interop tests, standard library only: it speaks the Go
// am-dbg protocol (net/rpc with gob) with message types declared by Go field name, exactly
// as asyncmachine-go's debugger and client do, and prints what it decodes as JSON lines.
//
//	peer server ADDR          serve RPCServer.DbgMsgSchema / DbgMsgTx; print "listening ADDR",
//	                          then one line per call: {"conn":N,"method":M,"msg":{...}}
//	peer serverlimit ADDR N   the same, but the first connection is closed right after the
//	                          reply to its Nth call (a server going away between two calls)
//	peer wsserver ADDR        the same over WebSocket at /dbg.ws (as the Go am-dbg's HTTP port)
//	peer client ADDR ID N     connect as machine ID, send its schema and N transitions
//	peer wsclient URL ID N    the same over WebSocket (ws://host:port/path)
//	peer readgob FILE         decode a gob list of Exportable (a .gob.br, decompressed), print it
//	peer writegob FILE        write a gob list of two Exportable machines
package main

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/rpc"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

type State struct {
	Auto    bool
	Multi   bool
	Require []string
	Add     []string
	Remove  []string
	After   []string
	Tags    []string
}

type DbgMsgStruct struct {
	ID          string
	StatesIndex []string
	States      map[string]State
	Groups      map[string][]int
	GroupsOrder []string
	Parent      string
	Tags        []string
}

type Step struct {
	Type         int8
	RelType      int8
	IsFinal      bool
	IsSelf       bool
	IsEnter      bool
	FromState    string
	FromStateIdx int
	ToState      string
	ToStateIdx   int
	Data         any
}

type LogEntry struct {
	Level int
	Text  string
}

type DbgMsgTx struct {
	MachineID        string
	ID               string
	Clocks           []uint64
	QueueTick        uint64
	MutQueueToken    uint64
	MutQueueTick     uint64
	Type             int
	CalledStates     []string
	CalledStatesIdxs []int
	Steps            []*Step
	LogEntries       []*LogEntry
	PreLogEntries    []*LogEntry
	Queue            int
	Time             *time.Time
	IsAuto           bool
	Accepted         bool
	IsCheck          bool
	IsQueued         bool
	Args             map[string]string
	QueueDump        []string
	StackTrace       string
}

type Exportable struct {
	MsgStruct *DbgMsgStruct
	MsgTxs    []*DbgMsgTx
	Version   string
}

var out = json.NewEncoder(os.Stdout)
var outMu sync.Mutex

func emit(v any) {
	outMu.Lock()
	defer outMu.Unlock()
	if err := out.Encode(v); err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(1)
	}
}

// RPCServer is the receiver, one per connection, so a line says which connection sent it.
type RPCServer struct{ conn int }

func (s *RPCServer) DbgMsgSchema(msg *DbgMsgStruct, _ *string) error {
	emit(map[string]any{"conn": s.conn, "method": "DbgMsgSchema", "msg": msg})
	return nil
}

func (s *RPCServer) DbgMsgTx(msg *DbgMsgTx, _ *string) error {
	emit(map[string]any{"conn": s.conn, "method": "DbgMsgTx", "msg": msg})
	return nil
}

// limitConn closes itself after the reply to the nth call: net/rpc writes each reply
// with one flush, so one Write is one reply.
type limitConn struct {
	net.Conn
	left int
}

func (c *limitConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.left--
	if c.left == 0 {
		c.Conn.Close()
	}
	return n, err
}

func serve(addr string, limit int) {
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(1)
	}
	fmt.Printf("listening %s\n", l.Addr())
	n := 0
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		n++
		srv := rpc.NewServer()
		if err := srv.RegisterName("RPCServer", &RPCServer{conn: n}); err != nil {
			fmt.Fprintln(os.Stderr, "peer:", err)
			os.Exit(1)
		}
		if n == 1 && limit > 0 {
			c = &limitConn{Conn: c, left: limit}
		}
		go srv.ServeConn(c)
	}
}

// wsConn carries a byte stream in binary WebSocket frames (server side: reads masked
// client frames, writes unmasked ones).
type wsConn struct {
	r   *bufio.Reader
	c   net.Conn
	buf []byte
	mu  sync.Mutex
}

func (w *wsConn) Read(p []byte) (int, error) {
	for len(w.buf) == 0 {
		var h [2]byte
		if _, err := io.ReadFull(w.r, h[:]); err != nil {
			return 0, err
		}
		n := uint64(h[1] & 0x7f)
		if n == 126 {
			var l [2]byte
			if _, err := io.ReadFull(w.r, l[:]); err != nil {
				return 0, err
			}
			n = uint64(binary.BigEndian.Uint16(l[:]))
		} else if n == 127 {
			var l [8]byte
			if _, err := io.ReadFull(w.r, l[:]); err != nil {
				return 0, err
			}
			n = binary.BigEndian.Uint64(l[:])
		}
		var mask [4]byte
		masked := h[1]&0x80 != 0
		if masked {
			if _, err := io.ReadFull(w.r, mask[:]); err != nil {
				return 0, err
			}
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(w.r, payload); err != nil {
			return 0, err
		}
		if !masked {
			return 0, fmt.Errorf("client frame not masked")
		}
		for i := range payload {
			payload[i] ^= mask[i%4]
		}
		switch h[0] & 0x0f {
		case 0, 1, 2:
			w.buf = payload
		case 8:
			return 0, io.EOF
		}
	}
	n := copy(p, w.buf)
	w.buf = w.buf[n:]
	return n, nil
}

func (w *wsConn) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	h := []byte{0x82}
	switch {
	case len(p) < 126:
		h = append(h, byte(len(p)))
	case len(p) <= 0xffff:
		h = append(h, 126, byte(len(p)>>8), byte(len(p)))
	default:
		h = append(h, 127)
		h = binary.BigEndian.AppendUint64(h, uint64(len(p)))
	}
	if _, err := w.c.Write(append(h, p...)); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (w *wsConn) Close() error { return w.c.Close() }

func wsServe(addr string) {
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(1)
	}
	fmt.Printf("listening %s\n", l.Addr())
	n := 0
	var mu sync.Mutex
	http.HandleFunc("/dbg.ws", func(rw http.ResponseWriter, req *http.Request) {
		key := req.Header.Get("Sec-WebSocket-Key")
		if req.Header.Get("Upgrade") != "websocket" || key == "" {
			http.Error(rw, "not a websocket", http.StatusBadRequest)
			return
		}
		c, brw, err := rw.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
			base64.StdEncoding.EncodeToString(sum[:]))
		mu.Lock()
		n++
		conn := n
		mu.Unlock()
		srv := rpc.NewServer()
		if err := srv.RegisterName("RPCServer", &RPCServer{conn: conn}); err != nil {
			c.Close()
			return
		}
		srv.ServeConn(&wsConn{r: brw.Reader, c: c})
	})
	if err := http.Serve(l, nil); err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
	}
}

func client(addr, id string, n int, ws bool) {
	var c *rpc.Client
	if ws {
		conn, err := wsDial(addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "peer:", err)
			os.Exit(1)
		}
		c = rpc.NewClient(conn)
	} else {
		var err error
		c, err = rpc.Dial("tcp4", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "peer:", err)
			os.Exit(1)
		}
	}
	defer c.Close()
	var reply string
	schema := &DbgMsgStruct{
		ID:          id,
		StatesIndex: []string{"Exception", "Ready", "Start"},
		States: map[string]State{
			"Exception": {Multi: true},
			"Ready":     {Auto: true, Require: []string{"Start"}},
			"Start":     {Tags: []string{"go"}},
		},
		Groups:      map[string][]int{"self": {0, 1, 2}},
		GroupsOrder: []string{"self"},
		Tags:        []string{"lang:go"},
	}
	if err := c.Call("RPCServer.DbgMsgSchema", schema, &reply); err != nil {
		fmt.Fprintln(os.Stderr, "peer: schema:", err)
		os.Exit(1)
	}
	for i := 1; i <= n; i++ {
		tx := &DbgMsgTx{
			MachineID:        id,
			ID:               fmt.Sprintf("go-tx-%d", i),
			Clocks:           []uint64{0, uint64(i), uint64(i)},
			QueueTick:        uint64(i),
			Type:             i % 3,
			CalledStatesIdxs: []int{2},
			Steps: []*Step{{Type: 32, ToState: "Start", FromStateIdx: -1},
				{Type: 1 | 4, RelType: 2, FromState: "Ready", ToState: "Start"}},
			LogEntries:    []*LogEntry{{Level: 2, Text: fmt.Sprintf("[state] +Start %d", i)}},
			PreLogEntries: []*LogEntry{{Level: 3, Text: "before"}},
			Queue:         i - 1,
			IsAuto:        i == 2,
			Accepted:      true,
			Args:          map[string]string{"n": strconv.Itoa(i)},
			StackTrace:    "main.client",
		}
		if err := c.Call("RPCServer.DbgMsgTx", tx, &reply); err != nil {
			fmt.Fprintln(os.Stderr, "peer: tx:", err)
			os.Exit(1)
		}
	}
	fmt.Println("sent", n)
}

// wsClientConn is the client side of a WebSocket byte stream: masked binary frames out,
// frames in (pings and other control frames skipped).
type wsClientConn struct {
	r   *bufio.Reader
	c   net.Conn
	buf []byte
}

func (w *wsClientConn) Read(p []byte) (int, error) {
	for len(w.buf) == 0 {
		var h [2]byte
		if _, err := io.ReadFull(w.r, h[:]); err != nil {
			return 0, err
		}
		n := uint64(h[1] & 0x7f)
		if n == 126 {
			var l [2]byte
			if _, err := io.ReadFull(w.r, l[:]); err != nil {
				return 0, err
			}
			n = uint64(binary.BigEndian.Uint16(l[:]))
		} else if n == 127 {
			var l [8]byte
			if _, err := io.ReadFull(w.r, l[:]); err != nil {
				return 0, err
			}
			n = binary.BigEndian.Uint64(l[:])
		}
		if h[1]&0x80 != 0 {
			return 0, fmt.Errorf("server frame masked")
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(w.r, payload); err != nil {
			return 0, err
		}
		switch h[0] & 0x0f {
		case 0, 1, 2:
			w.buf = payload
		case 8:
			return 0, io.EOF
		}
	}
	n := copy(p, w.buf)
	w.buf = w.buf[n:]
	return n, nil
}

func (w *wsClientConn) Write(p []byte) (int, error) {
	h := []byte{0x82}
	switch {
	case len(p) < 126:
		h = append(h, 0x80|byte(len(p)))
	case len(p) <= 0xffff:
		h = append(h, 0x80|126, byte(len(p)>>8), byte(len(p)))
	default:
		h = append(h, 0x80|127)
		h = binary.BigEndian.AppendUint64(h, uint64(len(p)))
	}
	mask := [4]byte{0x12, 0x34, 0x56, 0x78}
	h = append(h, mask[:]...)
	for i, b := range p {
		h = append(h, b^mask[i%4])
	}
	if _, err := w.c.Write(h); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (w *wsClientConn) Close() error { return w.c.Close() }

// wsDial upgrades ws://host:port/path and checks the server's accept key.
func wsDial(url string) (io.ReadWriteCloser, error) {
	rest, ok := strings.CutPrefix(url, "ws://")
	if !ok {
		return nil, fmt.Errorf("not a ws:// URL: %s", url)
	}
	host, path, _ := strings.Cut(rest, "/")
	c, err := net.Dial("tcp4", host)
	if err != nil {
		return nil, err
	}
	key := base64.StdEncoding.EncodeToString([]byte("am-dbg peer key!"))
	fmt.Fprintf(c, "GET /%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", path, host, key)
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return nil, err
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		return nil, fmt.Errorf("upgrade refused: %s", resp.Status)
	}
	return &wsClientConn{r: r, c: c}, nil
}

func readGob(path string) {
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(1)
	}
	defer f.Close()
	var list []*Exportable
	if err := gob.NewDecoder(f).Decode(&list); err != nil {
		fmt.Fprintln(os.Stderr, "peer: decode:", err)
		os.Exit(1)
	}
	emit(list)
}

func writeGob(path string) {
	at := time.Date(2026, 12, 3, 4, 5, 6, 7000, time.UTC)
	list := []*Exportable{}
	for m, id := range []string{"go-a", "go-b"} {
		e := &Exportable{
			MsgStruct: &DbgMsgStruct{ID: id, StatesIndex: []string{"A", "Exception"},
				States: map[string]State{"A": {Add: []string{"Exception"}}, "Exception": {Multi: true}}},
			Version: "v0.test",
		}
		for i := 0; i <= m+1; i++ {
			t := at.Add(time.Duration(i) * time.Second)
			e.MsgTxs = append(e.MsgTxs, &DbgMsgTx{MachineID: id, ID: fmt.Sprintf("%s-%d", id, i),
				Clocks: []uint64{uint64(i + 1), 0}, Time: &t, Accepted: true, CalledStatesIdxs: []int{0},
				LogEntries: []*LogEntry{{Level: 1, Text: "hi"}}, IsQueued: i == 0, MutQueueTick: 7})
		}
		list = append(list, e)
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(1)
	}
	defer f.Close()
	if err := gob.NewEncoder(f).Encode(list); err != nil {
		fmt.Fprintln(os.Stderr, "peer: encode:", err)
		os.Exit(1)
	}
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: peer server ADDR | serverlimit ADDR N | wsserver ADDR | client ADDR ID N | wsclient URL ID N | readgob FILE | writegob FILE")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "server":
		serve(os.Args[2], 0)
	case "serverlimit":
		n, _ := strconv.Atoi(os.Args[3])
		serve(os.Args[2], n)
	case "wsserver":
		wsServe(os.Args[2])
	case "client", "wsclient":
		n, _ := strconv.Atoi(os.Args[4])
		client(os.Args[2], os.Args[3], n, os.Args[1] == "wsclient")
	case "readgob":
		readGob(os.Args[2])
	case "writegob":
		writeGob(os.Args[2])
	default:
		fmt.Fprintln(os.Stderr, "unknown command", os.Args[1])
		os.Exit(2)
	}
}
