// A Go peer for am-dbg-proto's interop tests, standard library only: it speaks the Go
// am-dbg protocol (net/rpc with gob) with message types declared by Go field name, exactly
// as asyncmachine-go's debugger and client do, and prints what it decodes as JSON lines.
//
//	peer server ADDR          serve RPCServer.DbgMsgSchema / DbgMsgTx; print "listening ADDR",
//	                          then one line per call: {"conn":N,"method":M,"msg":{...}}
//	peer client ADDR ID N     connect as machine ID, send its schema and N transitions
//	peer readgob FILE         decode a gob list of Exportable (a .gob.br, decompressed), print it
//	peer writegob FILE        write a gob list of two Exportable machines
package main

import (
	"encoding/gob"
	"encoding/json"
	"fmt"
	"net"
	"net/rpc"
	"os"
	"strconv"
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

func serve(addr string) {
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
		go srv.ServeConn(c)
	}
}

func client(addr, id string, n int) {
	c, err := rpc.Dial("tcp4", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(1)
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
		fmt.Fprintln(os.Stderr, "usage: peer server ADDR | client ADDR ID N | readgob FILE | writegob FILE")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "server":
		serve(os.Args[2])
	case "client":
		n, _ := strconv.Atoi(os.Args[4])
		client(os.Args[2], os.Args[3], n)
	case "readgob":
		readGob(os.Args[2])
	case "writegob":
		writeGob(os.Args[2])
	default:
		fmt.Fprintln(os.Stderr, "unknown command", os.Args[1])
		os.Exit(2)
	}
}
