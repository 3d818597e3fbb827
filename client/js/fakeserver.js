// A fake wschat server for the JS client's tests: the protocol subset the
// client uses, a real seq counter, idempotent clientIds and history, and
// injected faults. It mirrors client/fakeserver_test.go. Written in JS
// rather than starting the Go fake as a subprocess so `node --test` needs no
// Go toolchain and each test owns its server in-process (faults can be
// switched mid-test and counted directly).
import { createRequire } from "node:module";

// require, not import: NODE_PATH (used to point at a scratch install of ws)
// applies to CommonJS resolution only.
const { WebSocketServer } = createRequire(import.meta.url)("ws");

const now = () => new Date().toISOString();

export class FakeServer {
  constructor(faults = {}) {
    this.f = { membersPageSize: 2, ...faults };
    this.chans = new Map();
    this.conns = new Set();
    this.counts = { drops: 0, duplicates: 0, reorders: 0, gaps: 0, internals: 0, rateLimits: 0, slowStores: 0, ackDelays: 0, cuts: 0, refused: 0, pings: 0, reauths: 0, expired: 0 };
    this.timers = new Set();
    this.replaces = []; // "replaces" query parameters of the upgrades
    this.nconn = 0;
    let seed = 42;
    this.rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  }

  async start() {
    this.wss = new WebSocketServer({
      host: "127.0.0.1", port: 0,
      handleProtocols: (protocols) => (protocols.has("wschat.v1") ? "wschat.v1" : false),
      verifyClient: (info, cb) => {
        const token = this.tokenOf(info.req);
        if (this.f.refuseToken && token === this.f.refuseToken) { this.counts.refused++; cb(false, 401, "token refused"); return; }
        cb(true);
      },
    });
    this.wss.on("connection", (ws, req) => this.accept(ws, req));
    await new Promise((r) => this.wss.on("listening", r));
    this.url = `ws://127.0.0.1:${this.wss.address().port}`;
    return this;
  }

  tokenOf(req) {
    const q = new URL(req.url, "http://x").searchParams.get("token");
    if (q) return q;
    const p = (req.headers["sec-websocket-protocol"] || "").split(",").map((s) => s.trim()).filter((s) => s && s !== "wschat.v1");
    return p[0] || "";
  }

  later(ms, fn) {
    const t = setTimeout(() => { this.timers.delete(t); fn(); }, ms);
    this.timers.add(t);
  }

  async stop() {
    for (const t of this.timers) clearTimeout(t);
    for (const c of this.conns) c.ws.terminate();
    await new Promise((r) => this.wss.close(r));
  }

  chance(p) { return p > 0 && this.rand() < p; }

  channel(name) {
    let ch = this.chans.get(name);
    if (!ch) {
      ch = { seq: 0, oldest: 1, msgs: new Map(), pending: new Set(), ids: new Map(), members: new Set() };
      this.chans.set(name, ch);
    }
    return ch;
  }

  dropAll() { for (const c of this.conns) { this.counts.drops++; c.ws.terminate(); } }

  // silenceAll makes every open connection silent without closing it, as a
  // network that goes dead does: nothing is answered or sent on it any more.
  silenceAll() { for (const c of this.conns) c.silent = true; }

  expire(name, below) {
    const ch = this.channel(name);
    for (const seq of ch.msgs.keys()) if (seq < below) ch.msgs.delete(seq);
    ch.oldest = Math.max(ch.oldest, below);
  }

  post(name, text) {
    const ch = this.channel(name);
    const seq = ++ch.seq;
    // A backend's publish, named like a backend (the page must mark it by from).
    this.store(ch, name, { seq, from: "server", userId: "server", userName: "Orders", text, clientId: "srv-" + seq, sentAt: now() });
    return seq;
  }

  accept(ws, req) {
    const token = this.tokenOf(req);
    const claims = FakeServer.claims(token);
    const c = { ws, user: claims.sub || token || `anon-${this.conns.size}`, chans: new Set(), id: `conn-${++this.nconn}`, silent: false };
    const rep = new URL(req.url, "http://x").searchParams.get("replaces");
    if (rep) this.replaces.push(rep);
    this.conns.add(c);
    if (claims.exp) this.expireAt(c, claims.exp);
    if (this.f.maxLifetime) this.later(this.f.maxLifetime, () => { this.counts.cuts++; ws.close(1001, "lifetime"); });
    ws.on("message", (data) => {
      if (c.silent) return;
      let r;
      try { r = JSON.parse(data.toString()); } catch { return; }
      this.handle(c, r);
      if (r.action !== "ping" && this.chance(this.f.drop)) { this.counts.drops++; ws.terminate(); }
    });
    ws.on("close", () => {
      clearTimeout(c.expiry);
      this.conns.delete(c);
      for (const name of c.chans) {
        const ch = this.channel(name);
        ch.members.delete(c);
        this.broadcast(ch, { type: "left", channel: name, userId: c.user, userName: c.user, at: now() });
      }
    });
  }

  // claims reads sub and exp (ms) of a token shaped like a JWT; {} otherwise.
  static claims(token) {
    const parts = (token || "").split(".");
    if (parts.length !== 3) return {};
    try {
      const c = JSON.parse(Buffer.from(parts[1], "base64url").toString());
      return { sub: c.sub, exp: c.exp * 1000 };
    } catch { return {}; }
  }

  // expireAt (re)arms c's grant: at exp the server refuses it with
  // token_expired and closes it, as the real one does.
  expireAt(c, expMs) {
    clearTimeout(c.expiry);
    c.expiry = setTimeout(() => {
      this.counts.expired++;
      this.emit(c, { type: "error", code: "token_expired", message: "token expired" });
      setTimeout(() => c.ws.close(1000, "token expired"), 10);
    }, Math.max(0, expMs - Date.now()));
  }

  // removeUser takes every connection of user out of the channel, as a
  // backend's removal does.
  removeUser(name, user) {
    const ch = this.channel(name);
    for (const m of [...ch.members]) {
      if (m.user !== user) continue;
      ch.members.delete(m);
      m.chans.delete(name);
      this.emit(m, { type: "removed", channel: name, reason: "removed", at: now() });
    }
  }

  emit(c, v) { if (c.ws.readyState === 1 && !c.silent) c.ws.send(JSON.stringify(v)); }
  broadcast(ch, v) { for (const m of ch.members) this.emit(m, v); }

  fail(c, r, code) {
    const v = { type: "error", code, message: code, action: r.action, requestId: "fake" };
    if (!this.f.omitProtocolAddition && r.channel) { v.channel = r.channel; if (r.clientId) v.clientId = r.clientId; }
    this.emit(c, v);
  }

  handle(c, r) {
    if (r.action === "ping") {
      this.counts.pings++;
      if (!this.f.noPong) this.emit(c, { type: "pong", connectionId: c.id });
      return;
    }
    if (r.action === "reauth") {
      const claims = FakeServer.claims(r.token);
      if (this.f.refuseReauth) this.fail(c, r, "unauthorized");
      else if (claims.sub !== c.user) this.fail(c, r, "forbidden");
      else {
        this.counts.reauths++;
        this.expireAt(c, claims.exp);
        this.emit(c, { type: "reauthed", expiresAt: new Date(claims.exp).toISOString() });
      }
      return;
    }
    if (r.action === "direct") {
      // The name is the client's own rule (directChannel); the fake only echoes it.
      const name = "dm-" + [c.user, r.userId].sort().join("-");
      const created = !this.chans.has(name);
      this.channel(name);
      if (created) {
        for (const o of this.conns) if (o.user === r.userId) this.emit(o, { type: "direct", channel: name, userId: c.user, userName: c.user, created: true, at: now() });
      }
      this.emit(c, { type: "direct", channel: name, userId: r.userId, userName: r.userId, at: now(), ...(created ? { created: true } : {}) });
      return;
    }
    const ch = this.channel(r.channel);
    if (r.action !== "join" && !ch.members.has(c)) { this.fail(c, r, "not_member"); return; }
    switch (r.action) {
      case "join": {
        // As the real server: every copy carries lastSeq and the joiner's ref.
        const ev = this.f.omitProtocolAddition
          ? { type: "joined", channel: r.channel, userId: c.user, userName: c.user, at: now() }
          : { type: "joined", channel: r.channel, userId: c.user, userName: c.user, at: now(), lastSeq: ch.seq, ...(r.ref ? { ref: r.ref } : {}) };
        const mine = ev;
        if (this.f.foreignJoinFirst && !ch.members.has(c)) {
          // Another member's concurrent join reaches the joiner first.
          this.emit(c, { type: "joined", channel: r.channel, userId: "intruder", userName: "intruder", at: now(), lastSeq: ch.seq + 5, ref: "j-someone-else" });
        }
        if (!ch.members.has(c)) {
          ch.members.add(c);
          c.chans.add(r.channel);
          for (const m of ch.members) if (m !== c) this.emit(m, ev);
        }
        this.emit(c, mine);
        break;
      }
      case "send": this.send(c, r, ch); break;
      case "history": this.history(c, r, ch); break;
      case "members": {
        const all = [...ch.members];
        const start = Number(r.cursor || 0), end = Math.min(start + this.f.membersPageSize, all.length);
        const members = all.slice(start, end).map((m) => ({ userId: m.user, userName: m.user, joinedAt: now() }));
        this.emit(c, { type: "members", channel: r.channel, members, next: end < all.length ? String(end) : "" });
        break;
      }
      case "leave":
        this.emit(c, { type: "left", channel: r.channel, userId: c.user, userName: c.user, at: now() });
        ch.members.delete(c);
        c.chans.delete(r.channel);
        break;
      default: this.fail(c, r, "unknown_action");
    }
  }

  send(c, r, ch) {
    if (this.f.silent) return;
    if (this.chance(this.f.rateLimit)) { this.counts.rateLimits++; this.fail(c, r, "rate_limited"); return; }
    const key = c.user + "\0" + r.clientId;
    if (ch.ids.has(key)) {
      const seq = ch.ids.get(key);
      if (!ch.pending.has(seq)) this.emit(c, ackFrame(r, ch.msgs.get(seq) || { seq }));
      return;
    }
    if (this.chance((this.f.internal || 0) / 2)) { this.counts.internals++; this.fail(c, r, "internal"); return; }
    const seq = ++ch.seq;
    if (this.chance(this.f.gap)) { this.counts.gaps++; this.fail(c, r, "internal"); return; }
    ch.ids.set(key, seq);
    const m = { seq, userId: c.user, userName: c.user, text: r.text, clientId: r.clientId, sentAt: now() };
    // mask: a word stored as "****", as a before-send hook that replaces text does.
    if (this.f.mask) m.text = m.text.replaceAll(this.f.mask, "****");
    if (this.chance(this.f.slowStore)) {
      this.counts.slowStores++;
      ch.pending.add(seq);
      this.later(20 + this.rand() * 40, () => { ch.pending.delete(seq); this.store(ch, r.channel, m, r.echo === false ? c : null); this.ack(c, r, m); });
      return;
    }
    this.store(ch, r.channel, m, r.echo === false ? c : null);
    if (this.chance((this.f.internal || 0) / 2)) { this.counts.internals++; this.fail(c, r, "internal"); return; }
    this.ack(c, r, m);
  }

  ack(c, r, m) {
    const v = ackFrame(r, m);
    if (this.chance(this.f.ackDelay)) { this.counts.ackDelays++; this.later(this.f.ackDelayBy, () => this.emit(c, v)); return; }
    this.emit(c, v);
  }

  // store keeps m and fans it out; except (the sender that asked for no
  // echo) gets nothing.
  store(ch, name, m, except = null) {
    ch.msgs.set(m.seq, m);
    const ev = { type: "message", channel: name, ...m };
    for (const mem of ch.members) {
      if (mem === except) continue;
      if (this.chance(this.f.reorder)) { this.counts.reorders++; this.later(5 + this.rand() * 30, () => this.emit(mem, ev)); continue; }
      this.emit(mem, ev);
      if (this.chance(this.f.duplicate)) { this.counts.duplicates++; this.emit(mem, ev); }
    }
  }

  history(c, r, ch) {
    const after = r.after || 0, limit = r.limit || 50;
    const messages = [];
    let next = after, more = false;
    for (let seq = after + 1; seq <= ch.seq; seq++) {
      const m = ch.msgs.get(seq);
      if (!m) continue;
      if (messages.length === limit) { more = true; break; }
      messages.push(m);
      next = seq;
    }
    if (!more) next = Math.max(next, ch.seq);
    const v = { type: "history", channel: r.channel, messages, more, next };
    if (!this.f.omitProtocolAddition) {
      let oldest = 0;
      for (const seq of ch.msgs.keys()) if (oldest === 0 || seq < oldest) oldest = seq;
      if (oldest === 0 && ch.oldest > 1) oldest = ch.seq + 1;
      let through = next;
      for (const seq of ch.pending) through = Math.min(through, seq - 1);
      Object.assign(v, { oldest, truncated: ch.oldest > 1 && after < ch.oldest - 1, through, after });
    }
    this.emit(c, v);
  }
}

// ackFrame is a send's ack; with echo: false it carries the message.
function ackFrame(r, m) {
  const v = { type: "ack", channel: r.channel, clientId: r.clientId, seq: m.seq };
  if (r.echo === false) Object.assign(v, { sentAt: m.sentAt, userId: m.userId, userName: m.userName });
  if (r.echo === false && m.text !== r.text) v.text = m.text;
  return v;
}
