package dns

import (
	"context"
	"math/rand/v2"
	"net"
	"strings"

	mdns "github.com/miekg/dns"
)

// ServeDNS implements dns.Handler: names in the domain, and reverse
// names of registered addresses, are answered from the registry; every
// other query is forwarded upstream.
func (s *Service) ServeDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	if len(req.Question) != 1 || req.Opcode != mdns.OpcodeQuery {
		m := new(mdns.Msg)
		m.SetRcode(req, mdns.RcodeFormatError)
		s.stats.query(qtypeOther, resFormErr)
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	if s.inDomain(q.Name) {
		s.answerLocal(w, req, q)
		return
	}
	if q.Qtype == mdns.TypePTR {
		if ad, ok := reverseAddr(q.Name); ok {
			if names := s.reg.reverse(ad); len(names) > 0 {
				m := s.reply(req)
				for _, n := range names {
					m.Answer = append(m.Answer, &mdns.PTR{Hdr: s.hdr(q.Name, mdns.TypePTR), Ptr: n})
				}
				s.stats.query(qtypePTR, resAnswer)
				s.write(w, req, m)
				return
			}
		}
	}
	s.forward(w, req, q)
}

// inDomain reports whether name is the domain or under it, in any case.
func (s *Service) inDomain(name string) bool {
	return len(name) == len(s.domain) && strings.EqualFold(name, s.domain) ||
		len(name) > len(s.domain) && name[len(name)-len(s.domain)-1] == '.' && hasSuffixFold(name, s.domain)
}

func (s *Service) hdr(name string, t uint16) mdns.RR_Header {
	return mdns.RR_Header{Name: name, Rrtype: t, Class: mdns.ClassINET, Ttl: s.ttl}
}

func (s *Service) reply(req *mdns.Msg) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	m.RecursionAvailable = true
	return m
}

// soa is the domain's SOA, for negative answers (its minimum is the TTL,
// so that a missing name is cached no longer than a present one).
func (s *Service) soa() mdns.RR {
	return &mdns.SOA{Hdr: s.hdr(s.domain, mdns.TypeSOA), Ns: "ns." + s.domain, Mbox: "hostmaster." + s.domain,
		Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: s.ttl}
}

// answerLocal answers a name in the domain from the registry: the
// addresses in random order, NXDOMAIN for an unknown name, no data for a
// known name without addresses of the type asked.
func (s *Service) answerLocal(w mdns.ResponseWriter, req *mdns.Msg, q mdns.Question) {
	m := s.reply(req)
	qt := qtypeOf(q.Qtype)
	if len(q.Name) == len(s.domain) {
		if q.Qtype == mdns.TypeSOA {
			m.Answer = append(m.Answer, s.soa())
			s.stats.query(qt, resAnswer)
		} else {
			m.Ns = append(m.Ns, s.soa())
			s.stats.query(qt, resNoData)
		}
		s.write(w, req, m)
		return
	}
	a := s.reg.lookup(q.Name)
	if a == nil {
		m.Rcode = mdns.RcodeNameError
		m.Ns = append(m.Ns, s.soa())
		s.stats.query(qt, resNXDomain)
		s.write(w, req, m)
		return
	}
	if q.Qtype == mdns.TypeA || q.Qtype == mdns.TypeANY {
		for _, ad := range a.v4 {
			m.Answer = append(m.Answer, &mdns.A{Hdr: s.hdr(q.Name, mdns.TypeA), A: ad.AsSlice()})
		}
	}
	if q.Qtype == mdns.TypeAAAA || q.Qtype == mdns.TypeANY {
		for _, ad := range a.v6 {
			m.Answer = append(m.Answer, &mdns.AAAA{Hdr: s.hdr(q.Name, mdns.TypeAAAA), AAAA: ad.AsSlice()})
		}
	}
	if len(m.Answer) == 0 {
		m.Ns = append(m.Ns, s.soa())
		s.stats.query(qt, resNoData)
	} else {
		rand.Shuffle(len(m.Answer), func(i, j int) { m.Answer[i], m.Answer[j] = m.Answer[j], m.Answer[i] })
		s.stats.query(qt, resAnswer)
	}
	s.write(w, req, m)
}

// write sends m with EDNS0 if the query had it, truncated to what the
// client takes over UDP (it then retries over TCP).
func (s *Service) write(w mdns.ResponseWriter, req *mdns.Msg, m *mdns.Msg) {
	size := mdns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		size = min(max(int(opt.UDPSize()), mdns.MinMsgSize), maxUDPSize)
		m.SetEdns0(maxUDPSize, opt.Do())
	}
	if isUDP(w) {
		m.Truncate(size)
	}
	_ = w.WriteMsg(m)
}

func isUDP(w mdns.ResponseWriter) bool {
	_, ok := w.RemoteAddr().(*net.UDPAddr)
	return ok
}

// forward sends a query outside the domain to the upstream resolvers in
// turn, over UDP and again over TCP if the answer was truncated, and
// relays the first answer. At most MaxForwards run at once; a query
// beyond is dropped (the client retries) and counted. No upstream
// answering gives SERVFAIL.
func (s *Service) forward(w mdns.ResponseWriter, req *mdns.Msg, q mdns.Question) {
	qt := qtypeOf(q.Qtype)
	select {
	case s.sem <- struct{}{}:
	default:
		s.stats.drop()
		return
	}
	defer func() { <-s.sem }()
	// Answers over UDP come back in buffers of maxUDPSize: ask for no
	// more (a larger answer comes truncated, and again over TCP).
	size := mdns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		size = min(max(int(opt.UDPSize()), mdns.MinMsgSize), mdns.MaxMsgSize)
		opt.SetUDPSize(uint16(min(size, maxUDPSize)))
	}
	ups := *s.upstreams.Load()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ForwardTimeout*2)
	defer cancel()
	for _, up := range ups {
		resp, _, err := s.udpClient.ExchangeContext(ctx, req, up)
		if err == nil && resp.Truncated {
			s.stats.forward(fwdTCPRetry)
			resp, _, err = s.tcpClient.ExchangeContext(ctx, req, up)
		}
		if err != nil {
			s.stats.forward(fwdFailed)
			continue
		}
		s.stats.forward(fwdOK)
		s.stats.query(qt, resForwarded)
		resp.Id = req.Id
		if isUDP(w) {
			resp.Truncate(size)
		}
		_ = w.WriteMsg(resp)
		return
	}
	s.stats.query(qt, resServFail)
	m := new(mdns.Msg)
	m.SetRcode(req, mdns.RcodeServerFailure)
	m.RecursionAvailable = true
	_ = w.WriteMsg(m)
}
