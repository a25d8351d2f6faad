// The weave-switch status page: polls the router's status every second
// and redraws the mesh and the tables from it. Everything is built with
// DOM calls and textContent, never parsed as HTML: nicknames and reasons come
// from the network.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const POLL_MS = 1000;
  const W = 800, H = 520;

  // Errors of this script end up in #errors, where a test reads them.
  const errorsEl = document.getElementById("errors");
  function recordError(msg) {
    const n = Number(errorsEl.dataset.count || "0") + 1;
    errorsEl.dataset.count = String(n);
    errorsEl.textContent += msg + "\n";
  }
  window.addEventListener("error", (e) => recordError("error: " + e.message + " (" + e.filename + ":" + e.lineno + ")"));
  window.addEventListener("unhandledrejection", (e) => recordError("unhandled rejection: " + String(e.reason)));

  // Per-connection byte counters of the recent polls, for the rates.
  let prevCounters = new Map();
  const RATE_WINDOW_MS = 3000;
  // Every link ever drawn, by key, so that one that disappears from the
  // status is drawn as down instead of vanishing.
  const knownLinks = new Map();
  let polls = 0;

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function row(cells, attrs) {
    const tr = el("tr", attrs);
    for (const c of cells) {
      if (c instanceof Node) { const td = el("td"); td.appendChild(c); tr.appendChild(td); }
      else tr.appendChild(el("td", {}, c === undefined || c === null || c === "" ? "-" : String(c)));
    }
    return tr;
  }
  function fill(tbodyParent, rows) {
    const tbody = tbodyParent.querySelector("tbody");
    tbody.replaceChildren(...rows);
  }

  function fmtRate(bitsPerSec) {
    if (!(bitsPerSec > 0)) return "0 bit/s";
    const units = ["bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"];
    let i = 0, v = bitsPerSec;
    while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
    return (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)) + " " + units[i];
  }
  function fmtRTT(sec) {
    if (!(sec > 0)) return "-";
    const ms = sec * 1000;
    return (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2)) + " ms";
  }
  function fmtBytes(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0, v = n || 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i === 0 ? String(v) : v.toFixed(1)) + " " + units[i];
  }
  function linkKey(a, b) { return a < b ? a + " " + b : b + " " + a; }
  function transportClass(t) {
    return t === "sleeve" || t === "wireguard" || t === "quic" ? "t-" + t : "t-remote";
  }

  // The links to draw: this router's own (with their transport, data
  // path, encryption, rates), those the other peers gossip, and those
  // seen before and gone now (down).
  function collectLinks(st, rates) {
    const links = new Map();
    const self = st.name;
    // A link on the kernel fast path is carried unencrypted when the
    // fast path says so (--fastpath-unencrypted).
    const fastPlain = !!(st.fastpath && st.fastpath.unencrypted);
    for (const c of st.connections || []) {
      if (!c.peer) continue;
      const key = linkKey(self, c.peer);
      const state = c.state === "established" ? "up" : c.state;
      const old = links.get(key);
      if (old && old.state === "up") continue; // the established one of two connections wins
      const r = rates.get(connKey(c)) || { tx: 0, rx: 0 };
      links.set(key, {
        key, a: self, b: c.peer, local: true, state, transport: c.transport || "", fallback: c.transport_fallback || "",
        datapath: c.datapath || "userspace", encrypted: !!c.encrypted && !(fastPlain && c.datapath === "fastpath"),
        rtt: c.rtt || 0, tx: r.tx, rx: r.rx,
      });
    }
    for (const p of st.peers || []) {
      for (const q of p.links || []) {
        const key = linkKey(p.name, q);
        if (links.has(key)) continue;
        links.set(key, { key, a: p.name, b: q, local: false, state: "up", transport: "", datapath: "", encrypted: false });
      }
    }
    for (const [key, l] of knownLinks) {
      if (!links.has(key)) links.set(key, Object.assign({}, l, { state: "down", tx: 0, rx: 0, rtt: 0 }));
    }
    for (const [key, l] of links) knownLinks.set(key, l);
    return links;
  }

  function connKey(c) { return c.direction + " " + c.address + " " + (c.peer || ""); }

  // rates: each connection's bit rates both ways over the samples of the
  // last RATE_WINDOW_MS (at least the previous poll's), from the byte
  // counters and the time the router took them.
  function rates(st, now) {
    const out = new Map(), next = new Map();
    for (const c of st.connections || []) {
      const k = connKey(c);
      const cur = { tx: c.tx_bytes || 0, rx: c.rx_bytes || 0, t: now };
      let hist = (prevCounters.get(k) || []).filter((p) => p.t < now && p.tx <= cur.tx && p.rx <= cur.rx);
      while (hist.length > 1 && now - hist[1].t >= RATE_WINDOW_MS) hist.shift();
      if (hist.length > 0) {
        const first = hist[0], dt = (now - first.t) / 1000;
        out.set(k, { tx: (cur.tx - first.tx) * 8 / dt, rx: (cur.rx - first.rx) * 8 / dt });
      }
      hist.push(cur);
      next.set(k, hist);
    }
    prevCounters = next;
    return out;
  }

  // Places the peers on a circle, this router at the top, in name order.
  function layout(peers, self) {
    const names = peers.map((p) => p.name).filter((n) => n !== self).sort();
    names.unshift(self);
    const pos = new Map();
    const cx = W / 2, cy = H / 2, r = Math.min(W, H) / 2 - 70;
    names.forEach((n, i) => {
      const a = -Math.PI / 2 + (2 * Math.PI * i) / names.length;
      pos.set(n, names.length === 1 ? { x: cx, y: cy } : { x: cx + r * Math.cos(a) * 1.35, y: cy + r * Math.sin(a) });
    });
    return pos;
  }

  function drawMesh(st, links) {
    const root = document.getElementById("mesh");
    const peers = (st.peers || []).slice();
    if (!peers.some((p) => p.name === st.name)) peers.push({ name: st.name, nickname: st.nickname, reachable: true });
    // A peer named by a remembered link but gone from the topology is still drawn.
    const byName = new Map(peers.map((p) => [p.name, p]));
    for (const l of links.values()) {
      for (const n of [l.a, l.b]) {
        if (!byName.has(n)) { const p = { name: n, nickname: "", reachable: false, gone: true }; byName.set(n, p); peers.push(p); }
      }
    }
    const pos = layout(peers, st.name);
    const g = [];
    const linkLayer = svg("g", { class: "links" });
    const labelLayer = svg("g", { class: "labels" });
    for (const l of links.values()) {
      const pa = pos.get(l.a), pb = pos.get(l.b);
      const cls = ["link", l.local ? transportClass(l.transport) : "t-remote"];
      if (l.local) cls.push(l.datapath === "fastpath" ? "fast" : "user", l.encrypted ? "enc" : "plain");
      const line = svg("line", {
        class: cls.join(" "), x1: pa.x, y1: pa.y, x2: pb.x, y2: pb.y,
        "data-link": l.key, "data-state": l.state, "data-local": l.local,
        "data-transport": l.transport || "", "data-datapath": l.datapath || "", "data-encrypted": l.encrypted,
        "data-tx-bps": Math.round(l.tx || 0), "data-rx-bps": Math.round(l.rx || 0), "data-rtt": l.rtt || 0,
      });
      const title = l.local
        ? `${l.state}: ${l.transport || "?"}${l.fallback ? " (fallback: " + l.fallback + ")" : ""}, ${l.datapath}, ${l.encrypted ? "encrypted" : "unencrypted"}`
        : `${l.state} (between other peers, from gossip)`;
      line.appendChild(svg("title", {}, title));
      linkLayer.appendChild(line);
      if (l.local && l.state === "up") {
        const mx = (pa.x + pb.x) / 2, my = (pa.y + pb.y) / 2;
        labelLayer.appendChild(svg("text", { class: "label", x: mx, y: my - 6 }, `↑ ${fmtRate(l.tx)}  ↓ ${fmtRate(l.rx)}`));
        labelLayer.appendChild(svg("text", { class: "label", x: mx, y: my + 10 }, `${l.transport}${l.fallback ? "*" : ""} · ${fmtRTT(l.rtt)}`));
      }
    }
    g.push(linkLayer);
    const peerLayer = svg("g", { class: "peers" });
    for (const p of peers) {
      const at = pos.get(p.name);
      const cls = ["peer"];
      if (p.name === st.name) cls.push("self");
      else if (p.next_hop && p.next_hop !== p.name) cls.push("relayed");
      const node = svg("g", { class: cls.join(" "), "data-peer": p.name, "data-reachable": p.name === st.name || !!p.reachable,
        transform: `translate(${at.x},${at.y})` });
      node.appendChild(svg("circle", { r: 34 }));
      node.appendChild(svg("text", { class: "nick", y: 5 }, p.nickname || "?"));
      node.appendChild(svg("text", { class: "name", y: 50 }, p.name));
      let tip = p.name === st.name ? "this router" : p.reachable ? (p.next_hop && p.next_hop !== p.name ? "reached through " + p.next_hop : "direct") : "unreachable";
      if (p.gone) tip = "gone from the topology";
      node.appendChild(svg("title", {}, `${p.nickname || ""} ${p.name}: ${tip}`));
      peerLayer.appendChild(node);
    }
    g.push(peerLayer, labelLayer);
    root.replaceChildren(...g);
  }

  function drawTables(st, links, rt) {
    const conns = st.connections || [];
    fill(document.getElementById("links"), conns.map((c) => {
      const r = rt.get(connKey(c)) || { tx: 0, rx: 0 };
      const state = c.state === "established" ? "up" : c.state;
      const reason = [c.reason, c.transport_fallback ? "fallback: " + c.transport_fallback : "", c.datapath_reason ? "fast path: " + c.datapath_reason : ""]
        .filter(Boolean).join("; ");
      const attrs = { "data-state": state, "data-peer": c.peer || "" };
      if (c.peer) attrs["data-link"] = linkKey(st.name, c.peer);
      const tr = row([
        c.peer ? `${c.nickname || "?"} ${c.peer}` : "", c.address, c.direction === "inbound" ? "in" : "out", c.state,
        (c.transport || "") + (c.transport_fallback ? "*" : ""), c.datapath || "",
        c.encrypted ? (c.datapath === "fastpath" && st.fastpath && st.fastpath.unencrypted ? "no (fast path)" : "yes") : "no", fmtRTT(c.rtt),
        `${fmtRate(r.tx)} (${fmtBytes(c.tx_bytes)})`, `${fmtRate(r.rx)} (${fmtBytes(c.rx_bytes)})`, reason,
      ], attrs);
      tr.lastChild.className = "reason";
      return tr;
    }));
    const peers = (st.peers || []).slice().sort((a, b) => (a.name < b.name ? -1 : 1));
    fill(document.getElementById("peers"), peers.map((p) => {
      const self = p.name === st.name;
      const route = self ? "this router" : !p.reachable ? "unreachable" : p.next_hop === p.name ? "direct" : "via " + (p.next_hop || "?");
      return row([p.name, p.nickname, self || p.reachable ? "yes" : "no", route, (p.links || []).length],
        { "data-peer": p.name, "data-reachable": self || !!p.reachable });
    }));
    // The names registered for a container's addresses (attach --name, dns-add).
    const namesOf = (a) => {
      const addrs = new Set((a.addrs || []).map((p) => String(p).split("/")[0]));
      return (st.names || []).filter((e) => addrs.has(e.addr)).map((e) => e.name.replace(/\.$/, ""));
    };
    fill(document.getElementById("containers"), (st.attachments || []).map((a) =>
      row([a.container || (a.netns || "").split("/").pop(), namesOf(a).join(", "), (a.addrs || []).join(", "), a.mac, a.stopped ? "(stopped)" : a.netns, a.stopped ? "" : a.host_veth],
        { "data-mac": a.mac || "" })));
    const h = st.health || { ok: true, problems: [], notes: [] };
    const badge = document.getElementById("health-badge");
    badge.dataset.health = h.ok ? "ok" : "unhealthy";
    badge.textContent = h.ok ? "healthy" : "UNHEALTHY";
    const items = [];
    for (const p of h.problems || []) items.push(el("li", { class: "problem" }, p));
    for (const n of h.notes || []) items.push(el("li", { class: "note" }, n));
    if (items.length === 0) items.push(el("li", { class: "note" }, "no problem found"));
    document.getElementById("health").replaceChildren(...items);
    const up = [...links.values()].filter((l) => l.local && l.state === "up").length;
    document.getElementById("self").textContent = `${st.nickname || ""} ${st.name}`;
    document.getElementById("summary").textContent =
      `${st.version} · ${(st.peers || []).length} peers · ${up} of ${conns.length} links up · ` +
      `${st.insecure ? "INSECURE (no secret)" : "secret from " + st.secret} · datapath ${st.fastpath ? st.fastpath.backend : "?"}`;
    document.title = `weave-switch ${st.nickname || st.name}${h.ok ? "" : " (unhealthy)"}`;
  }

  async function poll() {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), 5000);
    try {
      const resp = await fetch("web/status", { signal: ctl.signal, cache: "no-store" });
      if (!resp.ok) throw new Error("status: HTTP " + resp.status);
      const st = await resp.json();
      const rt = rates(st, st.time > 0 ? st.time * 1000 : performance.now());
      const links = collectLinks(st, rt);
      drawMesh(st, links);
      drawTables(st, links, rt);
      polls++;
      document.body.dataset.polls = String(polls);
      document.body.dataset.stale = "false";
      document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
    } catch (e) {
      // The router may be restarting: say so and keep polling.
      document.getElementById("updated").textContent = "router not answering: " + (e && e.message ? e.message : String(e));
      document.body.dataset.stale = "true";
    } finally {
      clearTimeout(timer);
      setTimeout(poll, POLL_MS);
    }
  }
  poll();
})();
