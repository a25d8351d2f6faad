package kube

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// realNode is a Node as the API server encodes one, with the fields the
// router skips.
func realNode(t testing.TB) []byte {
	n := node("node-1", internal("192.0.2.1"), external("203.0.113.1"))
	n.TypeMeta = metav1.TypeMeta{Kind: "Node", APIVersion: "v1"}
	n.UID, n.ResourceVersion = "0b3c", "1234"
	n.CreationTimestamp = metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	n.Labels = map[string]string{"kubernetes.io/hostname": "node-1"}
	n.Status.Images = []corev1.ContainerImage{{Names: []string{"registry/image:tag"}, SizeBytes: 1 << 20}}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	b, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzWatch feeds a watch stream: every event is decoded or refused with
// an error, and what is decoded is whole.
func FuzzWatch(f *testing.F) {
	n := realNode(f)
	f.Add([]byte(`{"type":"ADDED","object":` + string(n) + "}\n" + `{"type":"DELETED","object":` + string(n) + "}\n"))
	f.Add([]byte(`{"type":"BOOKMARK","object":{"kind":"Node","apiVersion":"v1","metadata":{"resourceVersion":"99"}}}`))
	f.Add([]byte(`{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (5)","reason":"Expired","code":410}}`))
	f.Add([]byte(`{"type":"MODIFIED","object":{"metadata":{"name":""}}}`))
	f.Add([]byte(`{"type":"ADDED","object":[1,2]}{"type":`))
	f.Fuzz(func(t *testing.T, b []byte) {
		w := newWatch(io.NopCloser(bytes.NewReader(b)))
		for range 100 {
			ev, err := w.Next()
			if err != nil {
				var ae *APIError
				if errors.As(err, &ae) && ae.Code == 0 {
					t.Fatalf("API error without a code: %v", err)
				}
				if err.Error() == "" {
					t.Fatal("an error without a message")
				}
				return
			}
			switch ev.Type {
			case Bookmark:
				if ev.Node.ResourceVersion == "" || ev.Node.Name != "" {
					t.Fatalf("bookmark %+v", ev.Node)
				}
			case Added, Modified, Deleted:
				if ev.Node.check() != nil {
					t.Fatalf("%s of a node that fails its check: %+v", ev.Type, ev.Node)
				}
				NodeAddress(&ev.Node)
			default:
				t.Fatalf("event of type %q returned", ev.Type)
			}
		}
	})
}

// FuzzNodeListPage decodes a page of the node list.
func FuzzNodeListPage(f *testing.F) {
	f.Add([]byte(`{"kind":"NodeList","apiVersion":"v1","metadata":{"resourceVersion":"7","continue":"abc"},"items":[` + string(realNode(f)) + `]}`))
	f.Add([]byte(`{"items":[{"metadata":{}}]}`))
	f.Add([]byte(`{"items":[{"metadata":{"name":"a","creationTimestamp":"not a time"}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodeNodeListPage(b)
		if err != nil {
			return
		}
		for i := range p.Items {
			if p.Items[i].check() != nil {
				t.Fatalf("item %d fails its check: %+v", i, p.Items[i])
			}
			NodeAddress(&p.Items[i])
		}
	})
}

// FuzzDecodeStatus reads the body of a failed request.
func FuzzDecodeStatus(f *testing.F) {
	f.Add(500, []byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"etcdserver: request timed out","reason":"InternalError","code":500}`))
	f.Add(502, []byte("<html>bad gateway</html>"))
	f.Add(401, []byte{0xff, 0xfe})
	f.Fuzz(func(t *testing.T, code int, b []byte) {
		e := decodeStatus(code, b)
		if e == nil || e.Error() == "" || len(e.Message) > 4*len(b)+8 {
			t.Fatalf("decodeStatus(%d, %q) = %+v", code, b, e)
		}
	})
}
