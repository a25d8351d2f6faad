package main

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The parts of the kernel's netfilter queue protocol (nfnetlink_queue)
// this tool speaks: bind a queue, receive each packet's id, give a
// verdict on it. Netlink headers are in the host's byte order (little
// endian on every machine this runs on), the queue's own structures in
// network byte order.

const (
	netlinkNetfilter = 12 // NETLINK_NETFILTER

	nlmsgHdrLen = 16
	nfgenLen    = 4
	nlaHdrLen   = 4

	nlmFRequest = 0x1
	nlmFAck     = 0x4
	nlmsgError  = 0x2
	nlmsgDone   = 0x3

	subsysQueue = 3 // NFNL_SUBSYS_QUEUE
	msgPacket   = 0 // NFQNL_MSG_PACKET
	msgVerdict  = 1 // NFQNL_MSG_VERDICT
	msgConfig   = 2 // NFQNL_MSG_CONFIG

	attrPacketHdr  = 1 // NFQA_PACKET_HDR
	attrVerdictHdr = 2 // NFQA_VERDICT_HDR

	cfgCmd    = 1 // NFQA_CFG_CMD
	cfgParams = 2 // NFQA_CFG_PARAMS
	cfgMaxLen = 3 // NFQA_CFG_QUEUE_MAXLEN

	cmdBind   = 1 // NFQNL_CFG_CMD_BIND
	copyMeta  = 1 // NFQNL_COPY_META: the packet's metadata, not its bytes
	nfAccept  = 1 // NF_ACCEPT
	nlaTypeMk = 0x3fff
)

func align4(n int) int { return (n + 3) &^ 3 }

// message builds one netlink message of the queue subsystem: header,
// nfgenmsg for queue, then the attributes (type, value).
func message(kind uint16, flags uint16, seq uint32, queue uint16, attrs ...attr) []byte {
	n := nlmsgHdrLen + nfgenLen
	for _, a := range attrs {
		n += align4(nlaHdrLen + len(a.val))
	}
	b := make([]byte, n)
	binary.LittleEndian.PutUint32(b[0:], uint32(n))
	binary.LittleEndian.PutUint16(b[4:], subsysQueue<<8|kind)
	binary.LittleEndian.PutUint16(b[6:], flags)
	binary.LittleEndian.PutUint32(b[8:], seq)
	b[16] = 0 // AF_UNSPEC
	b[17] = 0 // NFNETLINK_V0
	binary.BigEndian.PutUint16(b[18:], queue)
	off := nlmsgHdrLen + nfgenLen
	for _, a := range attrs {
		binary.LittleEndian.PutUint16(b[off:], uint16(nlaHdrLen+len(a.val)))
		binary.LittleEndian.PutUint16(b[off+2:], a.typ)
		copy(b[off+nlaHdrLen:], a.val)
		off += align4(nlaHdrLen + len(a.val))
	}
	return b
}

type attr struct {
	typ uint16
	val []byte
}

// bindMsg binds queue to this socket.
func bindMsg(seq uint32, queue uint16) []byte {
	return message(msgConfig, nlmFRequest|nlmFAck, seq, queue, attr{cfgCmd, []byte{cmdBind, 0, 0, 0}})
}

// paramsMsg asks for metadata only and a queue of maxLen packets.
func paramsMsg(seq uint32, queue uint16, maxLen uint32) []byte {
	p := make([]byte, 5)
	binary.BigEndian.PutUint32(p, 0)
	p[4] = copyMeta
	l := binary.BigEndian.AppendUint32(nil, maxLen)
	return message(msgConfig, nlmFRequest|nlmFAck, seq, queue, attr{cfgParams, p}, attr{cfgMaxLen, l})
}

// verdictMsg lets packet id of queue go on.
func verdictMsg(queue uint16, id uint32) []byte {
	v := binary.BigEndian.AppendUint32(nil, nfAccept)
	v = binary.BigEndian.AppendUint32(v, id)
	return message(msgVerdict, nlmFRequest, 0, queue, attr{attrVerdictHdr, v})
}

var errShort = errors.New("short netlink message")

// parse walks the netlink messages in b (one datagram from the socket)
// and calls packet with the id of each queued packet. A netlink error
// message with a non-zero code is returned as an error; an
// acknowledgement (code zero) is skipped.
func parse(b []byte, packet func(id uint32)) error {
	for len(b) > 0 {
		if len(b) < nlmsgHdrLen {
			return errShort
		}
		n := int(binary.LittleEndian.Uint32(b[0:]))
		if n < nlmsgHdrLen || n > len(b) {
			return fmt.Errorf("netlink message of %d bytes in %d", n, len(b))
		}
		kind := binary.LittleEndian.Uint16(b[4:])
		body := b[nlmsgHdrLen:n]
		switch {
		case kind == nlmsgError:
			if len(body) < 4 {
				return errShort
			}
			if code := int32(binary.LittleEndian.Uint32(body)); code != 0 {
				return fmt.Errorf("netlink error %d", -code)
			}
		case kind == nlmsgDone:
		case kind == subsysQueue<<8|msgPacket:
			id, ok, err := packetID(body)
			if err != nil {
				return err
			}
			if ok {
				packet(id)
			}
		}
		b = b[min(align4(n), len(b)):]
	}
	return nil
}

// packetID finds NFQA_PACKET_HDR in a packet message's body and returns
// its packet id.
func packetID(body []byte) (uint32, bool, error) {
	if len(body) < nfgenLen {
		return 0, false, errShort
	}
	a := body[nfgenLen:]
	for len(a) >= nlaHdrLen {
		l := int(binary.LittleEndian.Uint16(a[0:]))
		t := binary.LittleEndian.Uint16(a[2:]) & nlaTypeMk
		if l < nlaHdrLen || l > len(a) {
			return 0, false, fmt.Errorf("attribute of %d bytes in %d", l, len(a))
		}
		if t == attrPacketHdr {
			if l < nlaHdrLen+4 {
				return 0, false, errShort
			}
			return binary.BigEndian.Uint32(a[nlaHdrLen:]), true, nil
		}
		a = a[min(align4(l), len(a)):]
	}
	return 0, false, nil
}
