// wschat.js — the JavaScript SDK of wschat: one dependency-free ES module for
// browsers and Node.js 20. Same semantics as the Go package github.com/wschat/wschat/client:
// per channel, every message once, in strictly increasing seq, across
// reconnects and handovers; sends retried with their clientId until acked.
// docs/client.md describes the guarantees, options and server requirements.

export const Subprotocol = "wschat.v1";
export const MaxTextRunes = 4000;
export const MaxFrameBytes = 128 * 1024;
const channelRE = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export const State = Object.freeze({
  Connecting: "connecting",
  Connected: "connected",
  Reconnecting: "reconnecting",
  Closed: "closed",
});

/** An error of the client; `code` is stable, branch on it. */
export class WschatError extends Error {
  constructor(code, message, cause) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "WschatError";
    this.code = code;
  }
}

/** An error frame from the server (code, action, requestId as sent). */
export class ServerError extends WschatError {
  constructor(f) {
    super(f.code, `wschat server: ${f.code} on ${f.action}: ${f.message} (request ${f.requestId})`);
    this.name = "ServerError";
    this.action = f.action;
    this.requestId = f.requestId;
    this.server = true;
  }
  get retryable() {
    return this.code === "internal" || this.code === "rate_limited" || this.code === "not_member" || this.code === "unavailable";
  }
}

const timeoutError = () => new WschatError("timeout", "wschat client: no answer in time");
const lostError = () => new WschatError("connection_lost", "wschat client: connection lost");
const silentError = () => new WschatError("silent", "wschat client: connection silent: no answer within the heartbeat timeout");

/** The query parameter naming the connection a reconnect replaces (wire.ReplacesParameter). */
export const ReplacesParameter = "replaces";

/** In-memory store: the default; survives reconnects, not a reload. */
export class MemoryStore {
  constructor() { this.m = new Map(); }
  get(key) { return this.m.has(key) ? structuredClone(this.m.get(key)) : undefined; }
  set(key, value) { this.m.set(key, structuredClone(value)); }
  delete(key) { this.m.delete(key); }
}

/** Browser store: keeps the outbox and last seqs across a page reload. */
export class LocalStorageStore {
  constructor(storage = globalThis.localStorage, prefix = "wschat:") {
    if (!storage) throw new WschatError("invalid", "wschat client: no localStorage here");
    this.s = storage;
    this.prefix = prefix;
  }
  get(key) {
    const v = this.s.getItem(this.prefix + key);
    return v === null ? undefined : JSON.parse(v);
  }
  set(key, value) { this.s.setItem(this.prefix + key, JSON.stringify(value)); }
  delete(key) { this.s.removeItem(this.prefix + key); }
}

function validChannel(ch) {
  if (typeof ch !== "string" || !channelRE.test(ch)) {
    throw new WschatError("invalid", `wschat client: channel ${JSON.stringify(ch)} must match ${channelRE}`);
  }
}

function validText(text) {
  if (typeof text !== "string" || (text.isWellFormed && !text.isWellFormed())) {
    throw new WschatError("invalid", "wschat client: text is not a well-formed string");
  }
  const n = [...text].length;
  if (n > MaxTextRunes) {
    throw new WschatError("text_too_long", `wschat client: text too long: ${n} code points, at most ${MaxTextRunes}`);
  }
  if (/^\s*$/u.test(text)) throw new WschatError("invalid", "wschat client: text is empty or only white space");
}

/**
 * Sequencer: dedupe and reorder one channel's deliveries (see the Go
 * sequencer for the reasoning; the two are kept line for line alike).
 */
export class Sequencer {
  constructor(limit, last) {
    this.limit = limit;
    this.started = last !== undefined && last !== null;
    this.last = this.started ? last : 0;
    this.held = new Map();
  }
  start(last) { if (!this.started) { this.started = true; this.last = last; } }
  offer(m, out, force) { return this.offerEvent({ type: "message", message: m }, out, force); }
  // offerEvent: any item of the stream, a message or an update (a change
  // to a message under its own seq).
  offerEvent(ev, out, force) {
    const seq = seqOf(ev);
    if (!this.started) this.start(seq - 1);
    if (seq <= this.last || this.held.has(seq)) return true;
    if (seq !== this.last + 1) {
      if (this.held.size >= this.limit && !force) return false;
      this.held.set(seq, ev);
      return true;
    }
    this.last = seq;
    out.push(ev);
    this.drain(out);
    return true;
  }
  drain(out) {
    while (this.held.has(this.last + 1)) {
      const ev = this.held.get(this.last + 1);
      this.held.delete(this.last + 1);
      this.last++;
      out.push(ev);
    }
  }
  settle(through, out) {
    if (!this.started) { this.start(through); return; }
    if (through > this.last) {
      // By the held items, not seq by seq: a settled range can be
      // billions of seqs wide (a new counter starts at its base).
      const seqs = [...this.held.keys()].filter((seq) => seq <= through).sort((a, b) => a - b);
      for (const seq of seqs) { out.push(this.held.get(seq)); this.held.delete(seq); }
      this.last = through;
    }
    this.drain(out);
  }
  discontinuity(oldest, out) {
    if (!this.started || oldest - 1 <= this.last) return;
    const from = this.last + 1, to = oldest - 1;
    for (const seq of this.held.keys()) if (seq <= to) this.held.delete(seq);
    this.last = to;
    out.push({ type: "discontinuity", discontinuity: { from, to } });
    this.drain(out);
  }
  get gap() { return this.held.size > 0; }
}

const seqOf = (ev) => (ev.type === "update" ? ev.update.seq : ev.type === "moderation" ? ev.moderation.seq : ev.message.seq);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// mono is a monotonic clock in fractional milliseconds for the heartbeat: a
// wall clock that jumps (sleep, NTP) or ticks in whole milliseconds would
// blur "after the probe".
const mono = globalThis.performance && typeof globalThis.performance.now === "function"
  ? () => globalThis.performance.now() : () => Date.now();

/** A JWT's exp in ms, read without verifying (the server does); 0 when it has none. */
export function tokenExpiry(tok) {
  const parts = typeof tok === "string" ? tok.split(".") : [];
  if (parts.length !== 3) return 0;
  try {
    const b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = new TextDecoder().decode(Uint8Array.from(atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4)), (ch) => ch.charCodeAt(0)));
    const exp = JSON.parse(json).exp;
    return typeof exp === "number" && exp > 0 ? exp * 1000 : 0;
  } catch { return 0; }
}

const dmEncoding = "abcdefghijklmnopqrstuvwxyz234567";

/**
 * The direct-message channel of users a and b, the same whichever is first
 * (the wire contract's rule: "dm-" and the first 160 bits of SHA-256 of
 * "wschat.dm.v1|<n>:<lo>|<m>:<hi>", n and m the UTF-8 byte lengths, in
 * lower-case base32).
 */
export async function directChannel(a, b) {
  // Byte order of the UTF-8 forms, as the server orders them (JavaScript's
  // < compares UTF-16 units, which differs above U+FFFF).
  const ea = new TextEncoder().encode(a), eb = new TextEncoder().encode(b);
  let cmp = 0;
  for (let i = 0; cmp === 0 && i < Math.min(ea.length, eb.length); i++) cmp = ea[i] - eb[i];
  if (cmp === 0) cmp = ea.length - eb.length;
  const [lo, hi] = cmp <= 0 ? [ea, eb] : [eb, ea];
  const head = (n) => new TextEncoder().encode(`|${n}:`);
  const parts = [new TextEncoder().encode("wschat.dm.v1"), head(lo.length), lo, head(hi.length), hi];
  const input = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((off, p) => { input.set(p, off); return off + p.length; }, 0);
  const sum = new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", input));
  let bits = 0, value = 0, out = "dm-";
  for (const byte of sum.subarray(0, 20)) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) { out += dmEncoding[(value >>> (bits - 5)) & 31]; bits -= 5; }
  }
  return out;
}

/** One WebSocket; at most one request per action in flight (see conn.go). */
class Conn {
  constructor(client, ws) {
    this.c = client;
    this.ws = ws;
    this.born = Date.now();
    this.waiters = new Map();
    this.chains = new Map();
    this.closed = false;
    this.done = new Promise((r) => { this.markDone = r; });
    ws.onmessage = (ev) => { this.received(); this.c.handleFrame(this, ev.data); };
    ws.onclose = (ev) => this.end(ev && ev.code);
    ws.onerror = () => {};
    // Heartbeat (see liveness.go): any frame received is a sign of life; a
    // probe goes out after heartbeatInterval of quiet, early when a request
    // waits with nothing received, or on checkNow; nothing at all within
    // heartbeatTimeout of a probe ends the connection as silent.
    this.lastRx = this.lastTx = mono();
    this.probeAt = 0;
    this.first = true; // a ping at once: it checks the connection and learns its id
    this.asked = false;
    this.id = "";
    this.died = null;
    this.timer = null;
    this.look(0);
    this.exp = 0; // the token's expiry (ms); set by the client after the dial
    this.renewAttempt = 0;
  }
  // scheduleRenewal arms the in-band renewal before the token expires (see
  // the Go client's renew.go): renewBefore ahead, at most a third of the
  // remaining life; a failed attempt is retried with backoff.
  scheduleRenewal() {
    clearTimeout(this.renewer);
    if (this.closed || !this.exp || !this.c.opts.token) return;
    const now = Date.now();
    const at = this.exp - Math.min(this.c.opts.renewBefore, (this.exp - now) / 3);
    const wait = this.renewAttempt > 0 ? this.c.backoff(this.renewAttempt) : Math.max(0, at - now);
    this.renewer = setTimeout(() => this.renew(), wait);
  }
  async renew() {
    if (this.closed) return;
    try {
      const tok = await this.c.opts.token();
      const f = await this.call({ action: "reauth", token: tok });
      this.exp = Date.parse(f.expiresAt) || tokenExpiry(tok);
      this.renewAttempt = 0;
      this.c.counters.renewals++;
      this.c.setState(this.c.state, "token renewed in-band");
    } catch (e) {
      if (this.closed) return;
      this.renewAttempt++;
      this.c.setState(this.c.state, "token renewal failed", e);
    }
    this.scheduleRenewal();
  }
  end(code) {
    if (this.closed) return;
    this.closed = true;
    this.closeCode = code;
    clearTimeout(this.timer);
    clearTimeout(this.renewer);
    for (const w of this.waiters.values()) w.reject(lostError());
    this.waiters.clear();
    this.markDone();
  }
  received() {
    this.lastRx = mono();
    if (this.probeAt) this.look(0);
  }
  look(ms) {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.beat(), Math.max(0, ms));
  }
  ask() { this.asked = true; this.look(0); }
  // beat is one look of the watchdog. Background tabs run timers late; the
  // rule (nothing received since the probe went out) never mistakes a late
  // timer for a dead connection.
  beat() {
    if (this.closed) return;
    const o = this.c.opts, now = mono();
    if (this.probeAt) {
      if (this.lastRx > this.probeAt) this.probeAt = 0;
      else if (now < this.probeAt + o.heartbeatTimeout) return this.look(this.probeAt + o.heartbeatTimeout - now);
      else return this.die(silentError());
    }
    const keepAlive = this.lastTx + o.pingInterval;
    if (this.first || now >= keepAlive) { this.first = false; return this.probe(now); }
    let due = keepAlive;
    const every = this.c.heartbeatInterval();
    if (every > 0) due = Math.min(due, this.lastRx + every);
    let oldest = 0;
    for (const w of this.waiters.values()) if (w.sent && (!oldest || w.sent < oldest)) oldest = w.sent;
    if (oldest && this.lastRx <= oldest) due = Math.min(due, oldest + o.heartbeatTimeout / 4);
    if (this.asked || now >= due) { this.asked = false; return this.probe(now); }
    this.look(due - now);
  }
  probe(now) {
    this.probeAt = now;
    this.c.counters.pings++;
    try { this.ws.send(JSON.stringify({ action: "ping" })); this.lastTx = now; } catch { return this.die(lostError()); }
    this.look(this.c.opts.heartbeatTimeout);
  }
  die(err) {
    if (this.closed) return;
    this.died = err;
    if (err.code === "silent") this.c.counters.silent++;
    // A dead network completes no close handshake: drop the socket at once
    // where the API allows it (Node's ws), else start the close.
    try { if (typeof this.ws.terminate === "function") this.ws.terminate(); else this.ws.close(4000, "silent"); } catch { /* closing */ }
    this.end(1006);
  }
  close() {
    try { this.ws.close(1000, "closing"); } catch { /* already closing */ }
    this.end(1000);
  }
  call(req) {
    const prev = this.chains.get(req.action) || Promise.resolve();
    const p = prev.then(() => this.callNow(req));
    this.chains.set(req.action, p.catch(() => {}));
    return p;
  }
  callNow(req) {
    if (this.closed) return Promise.reject(lostError());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.waiters.delete(req.action); reject(timeoutError()); }, this.c.opts.ackTimeout);
      const w = {
        channel: req.channel, clientId: req.clientId, ref: req.ref, sent: 0, peer: req.action === "direct" ? req.userId : undefined,
        resolve: (f) => { clearTimeout(timer); f.type === "error" ? reject(new ServerError(f)) : resolve(f); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
      this.waiters.set(req.action, w);
      try { this.ws.send(JSON.stringify(req)); } catch (e) { this.waiters.delete(req.action); w.reject(lostError()); return; }
      w.sent = this.lastTx = mono();
      this.look(0); // an unanswered request makes the heartbeat probe sooner
    });
  }
  resolve(action, f) {
    const w = this.waiters.get(action);
    if (!w) return false;
    if (f.channel && w.channel && f.channel !== w.channel) return false;
    if (f.clientId && w.clientId && f.clientId !== w.clientId) return false;
    // Another member's concurrent join carries its own ref (and a later
    // lastSeq): only ours completes our join.
    if (f.type === "joined" && f.ref && w.ref && f.ref !== w.ref) return false;
    // Someone else opening a direct message with us is not our answer.
    if (f.type === "direct" && w.peer && f.userId !== w.peer) return false;
    this.waiters.delete(action);
    w.resolve(f);
    return true;
  }
}

const defaults = {
  token: null, tokenInQuery: false, onState: null, WebSocket: globalThis.WebSocket,
  pingInterval: 5 * 60e3, heartbeatInterval: 18e3, heartbeatTimeout: 8e3, hiddenHeartbeatInterval: 5 * 60e3,
  maxLifetime: 2 * 3600e3 - 5 * 60e3, ackTimeout: 10e3, dialTimeout: 15e3,
  backoffBase: 250, backoffMax: 30e3, outboxSize: 256, maxSendAttempts: 10, reorderWindow: 1024,
  gapTimeout: 2e3, historyLimit: 100, store: null, modelSize: 10000, renewBefore: 2 * 60e3,
};

/**
 * Connect and resolve once the first connection is up; rejects at once
 * with code "token" or "unauthorized", otherwise retries with backoff.
 */
export async function dial(url, options = {}) {
  const c = new Client(url, { ...defaults, ...options });
  await c.started;
  return c;
}

export class Client {
  constructor(url, opts) {
    if (typeof opts.WebSocket !== "function") {
      throw new WschatError("invalid", "wschat client: no WebSocket constructor: pass options.WebSocket (Node 20: the ws package)");
    }
    this.url = url;
    this.opts = opts;
    this.store = opts.store || new MemoryStore();
    this.state = State.Connecting;
    this.err = null;
    this.active = null;
    this.activeWaiters = [];
    this.subs = new Map();
    this.outbox = (this.store.get("outbox") || []).map((e) => ({ ...e, attempted: true, waiters: [] }));
    this.userId = "";
    this.typed = new Map();
    this.counters = { connects: 0, reconnects: 0, handovers: 0, sendRetries: 0, renewals: 0, pings: 0, silent: 0 };
    this.replaces = ""; // the last connection lost without a close frame
    this.watchEnvironment();
    this.listeners = { ack: new Set(), failed: new Set(), direct: new Set() };
    this.idPrefix = "js-" + Math.random().toString(36).slice(2, 10) + Date.now().toString(36) + "-";
    this.idN = 0;
    this.stopped = new Promise((r) => { this.markStopped = r; });
    this.started = new Promise((resolve, reject) => { this.firstResolve = resolve; this.firstReject = reject; });
    this.started.catch(() => {});
    this.run();
    this.sender();
  }

  /**
   * Listen for "ack" (entry, seq) and "failed" (entry, error) of any send,
   * restored ones included, and "direct" ({channel, userId, userName,
   * created}): another user opened a direct-message channel with this one.
   */
  on(event, fn) { this.listeners[event].add(fn); return () => this.listeners[event].delete(fn); }
  stats() { return { ...this.counters }; }
  /** Unacknowledged sends and replies, oldest first (restored from the store after a reload too). */
  pending() {
    return this.outbox.filter((e) => !e.req || e.req.action === "send")
      .map(({ channel, text, clientId, req }) => (req && req.replyTo ? { channel, text, clientId, replyTo: req.replyTo } : { channel, text, clientId }));
  }

  /** Probe the connection at once: without an answer within heartbeatTimeout it is replaced. */
  checkNow() { if (this.active && !this.active.closed) this.active.ask(); }

  // heartbeatInterval is slower while the page is hidden (browsers run its
  // timers late anyway): hiddenHeartbeatInterval; a page shown again, or a
  // network that comes back or goes away, probes at once (checkNow).
  heartbeatInterval() {
    const doc = globalThis.document;
    const hidden = doc && doc.visibilityState === "hidden";
    return hidden ? this.opts.hiddenHeartbeatInterval : this.opts.heartbeatInterval;
  }

  watchEnvironment() {
    const g = globalThis;
    if (typeof g.addEventListener !== "function") return;
    const check = () => this.checkNow();
    const visible = () => { if (!g.document || g.document.visibilityState !== "hidden") this.checkNow(); };
    g.addEventListener("online", check);
    g.addEventListener("offline", check);
    if (g.document && typeof g.document.addEventListener === "function") g.document.addEventListener("visibilitychange", visible);
    this.unwatch = () => {
      g.removeEventListener("online", check);
      g.removeEventListener("offline", check);
      if (g.document && typeof g.document.removeEventListener === "function") g.document.removeEventListener("visibilitychange", visible);
    };
  }

  setState(to, reason, err) {
    if (this.state === State.Closed) return;
    const from = this.state;
    this.state = to;
    if (this.opts.onState) this.opts.onState({ from, to, reason, err: err || null, at: new Date() });
  }

  backoff(attempt) {
    const cap = Math.min(this.opts.backoffMax, this.opts.backoffBase * 2 ** Math.min(attempt, 30));
    return Math.random() * cap + 1;
  }

  setActive(k) {
    this.active = k;
    const ws = this.activeWaiters;
    this.activeWaiters = [];
    for (const w of ws) w();
  }

  async waitActive() {
    for (;;) {
      if (this.err) throw this.err;
      if (this.active && !this.active.closed) return this.active;
      await new Promise((r) => this.activeWaiters.push(r));
    }
  }

  async openSocket() {
    let protocols = [Subprotocol];
    let url = this.url;
    if (this.replaces) {
      const u = new URL(url);
      u.searchParams.set(ReplacesParameter, this.replaces);
      url = u.toString();
    }
    let exp = 0;
    if (this.opts.token) {
      let tok;
      try { tok = await this.opts.token(); } catch (e) {
        throw new WschatError("token", `wschat client: token provider failed: ${e && e.message}`, e);
      }
      exp = tokenExpiry(tok);
      if (this.opts.tokenInQuery) {
        const u = new URL(url);
        u.searchParams.set("token", tok);
        url = u.toString();
      } else protocols = [Subprotocol, tok];
    }
    return new Promise((resolve, reject) => {
      const ws = new this.opts.WebSocket(url, protocols);
      const timer = setTimeout(() => { ws.onclose = null; try { ws.close(); } catch { /* */ } reject(new WschatError("dial", "wschat client: dial timed out")); }, this.opts.dialTimeout);
      let why = "";
      ws.onerror = (ev) => { why = (ev && (ev.message || (ev.error && ev.error.message))) || ""; };
      ws.onclose = () => {
        clearTimeout(timer);
        // Node's ws reports the status; a browser cannot see it (docs/client.md).
        if (/\b(401|403)\b/.test(why)) reject(new WschatError("unauthorized", `wschat client: token refused: ${why}`));
        else reject(new WschatError("dial", `wschat client: dial failed: ${why || "closed"}`));
      };
      ws.onopen = () => {
        clearTimeout(timer);
        const k = new Conn(this, ws);
        k.exp = exp;
        k.scheduleRenewal();
        resolve(k);
      };
    });
  }

  async establish() {
    const k = await this.openSocket();
    try {
      for (const s of [...this.subs.values()]) {
        try { await s.rejoin(k); } catch (e) {
          if (e.server && !e.retryable) { this.dropSub(s, e); continue; }
          throw e;
        }
      }
      for (const s of [...this.subs.values()]) await s.catchUp(k);
    } catch (e) { k.close(); throw e; }
    return k;
  }

  async run() {
    for (let attempt = 0; !this.err;) {
      let k;
      try { k = await this.establish(); } catch (e) {
        if (this.err) return;
        if (e.code === "token" || e.code === "unauthorized") { this.stop(e, "stopped: " + e.message); return; }
        this.setState(this.state, "connection attempt failed", e);
        await sleep(this.backoff(attempt++));
        continue;
      }
      attempt = 0;
      this.counters.connects++;
      this.replaces = "";
      this.setActive(k);
      this.setState(State.Connected, "connected, channels rejoined and caught up");
      this.firstResolve();
      if (!(await this.hold(k))) return;
    }
  }

  // hold hands over before maxLifetime and reports a lost connection.
  async hold(k) {
    for (let retry = 0; ;) {
      const wait = retry > 0 ? this.backoff(retry) : Math.max(0, this.opts.maxLifetime - (Date.now() - k.born));
      let timer;
      const expired = new Promise((r) => { timer = setTimeout(() => r("expired"), wait); });
      const why = await Promise.race([expired, k.done.then(() => "lost"), this.stopped.then(() => "stopped")]);
      clearTimeout(timer);
      if (why === "stopped") { k.close(); return false; }
      if (why === "lost") {
        this.setActive(null);
        this.counters.reconnects++;
        // Without a close frame the server may not know: the next upgrade
        // names the connection so that it is dropped at once.
        if (k.id && (k.died || k.closeCode === 1006 || k.closeCode === undefined)) this.replaces = k.id;
        if (k.died && k.died.code === "silent") this.setState(State.Reconnecting, "connection silent: no answer to the heartbeat", k.died);
        else this.setState(State.Reconnecting, "connection lost", k.died);
        return true;
      }
      let nk;
      try { nk = await this.establish(); } catch (e) {
        if (this.err) { k.close(); return false; }
        if (e.code === "token" || e.code === "unauthorized") { this.stop(e, "stopped during handover: " + e.message); k.close(); return false; }
        retry++;
        continue;
      }
      retry = 0;
      this.setActive(nk);
      this.counters.handovers++;
      this.setState(State.Connected, "handover to a new connection before the lifetime limit");
      k.close();
      k = nk;
    }
  }

  stop(err, reason) {
    if (this.err) return;
    this.err = err;
    if (this.unwatch) this.unwatch();
    this.markStopped();
    for (const s of this.subs.values()) s.end(err);
    this.subs.clear();
    const pending = this.outbox;
    for (const e of pending) for (const w of e.waiters) w.reject(err);
    this.setActive(null);
    if (this.wakeSender) this.wakeSender();
    this.setState(State.Closed, reason, err.code === "closed" ? null : err);
    this.firstReject(err);
  }

  /** Stop: pending sends reject with code "closed" (they stay in the store), streams end. */
  close() { this.stop(new WschatError("closed", "wschat client: closed"), "closed by the application"); }

  dropSub(s, err) { if (this.subs.get(s.channel) === s) this.subs.delete(s.channel); s.end(err); }

  handleFrame(k, data) {
    let f;
    try { f = JSON.parse(typeof data === "string" ? data : data.toString()); } catch { return; }
    if (!f || typeof f !== "object") return;
    const s = f.channel ? this.subs.get(f.channel) : undefined;
    switch (f.type) {
      case "message":
        if (s) s.liveEvent(liveMessage(f));
        break;
      case "joined": case "left":
        k.resolve(f.type === "joined" ? "join" : "leave", f);
        if (s) s.push([{ type: f.type, presence: { channel: f.channel, userId: f.userId, userName: f.userName, at: f.at } }]);
        break;
      case "ack":
        if (!f.action && f.userId && s) this.ownMessage(s, f);
        k.resolve(f.action || "send", f);
        break;
      case "history": case "members": k.resolve(f.type, f); break;
      case "pong": if (f.connectionId) k.id = f.connectionId; k.resolve("ping", f); break;
      case "error": k.resolve(f.action, f); break;
      case "reauthed": k.resolve("reauth", f); break;
      case "direct":
        // The answer to our direct request, or news of one opened with us.
        if (!k.resolve("direct", f)) {
          for (const fn of this.listeners.direct) fn({ channel: f.channel, userId: f.userId, userName: f.userName, created: !!f.created });
        }
        break;
      case "removed":
        // Taken out by the server (a backend's removal, a narrower grant): not rejoined.
        if (s) this.dropSub(s, new WschatError("removed", `wschat client: removed from ${f.channel} (${f.reason})`));
        break;
      default:
        // API Gateway's own frame has no type, and names the connection.
        if (!f.type && f.connectionId) k.id = f.connectionId;
        else this.handleLifecycle(k, f, s);
        break;
    }
  }

  /**
   * Join a channel. options.from: resume after that seq (0 = whole
   * history); without it the stored last seq of the channel is used, else
   * the channel's current seq.
   */
  async join(channel, options = {}) {
    validChannel(channel);
    if (this.err) throw this.err;
    if (this.subs.has(channel)) throw new WschatError("already_joined", `wschat client: channel already joined: ${channel}`);
    const stored = this.store.get("last:" + channel);
    const from = options.from !== undefined ? options.from : stored;
    const s = new Subscription(this, channel, from);
    this.subs.set(channel, s);
    for (;;) {
      try {
        const k = await this.waitActive();
        await s.rejoin(k);
        s.catchUp(k).catch(() => s.kickNow());
        if (this.wakeSender) this.wakeSender();
        return s;
      } catch (e) {
        if (this.err || (e.server && !e.retryable)) { this.dropSub(s, e); throw e; }
      }
    }
  }

  /**
   * Open the direct-message channel with userId (created on first use; only
   * the two users can ever join it) and join it; options as for join. An
   * already joined channel's subscription is returned as it is.
   */
  async openDirect(userId, options = {}) {
    // The wire contract's user id: 1-128 bytes, printable, no spaces, '#' or '/'.
    if (typeof userId !== "string" || !/^[^\u0000-\u0020#/\u007f-\u009f\ufffd]+$/u.test(userId) ||
        new TextEncoder().encode(userId).length > 128 || (userId.isWellFormed && !userId.isWellFormed())) {
      throw new WschatError("invalid", `wschat client: user id ${JSON.stringify(userId)} is not valid`);
    }
    let f;
    for (let attempt = 0; ; attempt++) {
      if (this.err) throw this.err;
      const k = await this.waitActive();
      try { f = await k.call({ action: "direct", userId }); break; } catch (e) {
        if ((e.server && !e.retryable) || attempt + 1 >= this.opts.maxSendAttempts) throw e;
        await sleep(this.backoff(attempt));
      }
    }
    return this.subs.get(f.channel) || this.join(f.channel, options);
  }

  /** Send text; resolves with the seq once acked. */
  send(channel, text) {
    validChannel(channel);
    validText(text);
    if (this.err) return Promise.reject(this.err);
    if (!this.subs.has(channel)) return Promise.reject(new WschatError("not_joined", `wschat client: channel not joined: ${channel}`));
    if (this.outbox.length >= this.opts.outboxSize) {
      return Promise.reject(new WschatError("outbox_full", `wschat client: outbox full: ${this.outbox.length} unacknowledged`));
    }
    const clientId = this.idPrefix + ++this.idN;
    // echo: false asks for one frame per send, the ack, which carries the
    // message's seq, sentAt and sender; ownMessage makes the message.
    return this.enqueue({ channel, text, clientId, req: { action: "send", channel, text, clientId, echo: false } });
  }

  // ownMessage makes the message of an ack that carries it (a send made
  // with echo: false) from the outbox entry it acknowledges, and hands it
  // to the subscription as if the server had posted it: the sequencer puts
  // it in seq order and drops a seq already delivered.
  ownMessage(s, f) {
    const e = this.outbox.find((x) => x.clientId === f.clientId && x.channel === f.channel);
    if (!e) return;
    s.liveEvent(liveMessage({ type: "message", channel: f.channel, seq: f.seq, userId: f.userId, userName: f.userName,
      text: f.text || e.text, clientId: f.clientId, sentAt: f.sentAt })); // f.text: a before-send hook replaced it
  }

  // enqueue puts a request (send or lifecycle) in the outbox: sent one at
  // a time in call order, retried with its clientId until acked.
  enqueue(e) {
    if (this.err) return Promise.reject(this.err);
    if (!this.subs.has(e.channel)) return Promise.reject(new WschatError("not_joined", `wschat client: channel not joined: ${e.channel}`));
    if (this.outbox.length >= this.opts.outboxSize) {
      return Promise.reject(new WschatError("outbox_full", `wschat client: outbox full: ${this.outbox.length} unacknowledged`));
    }
    Object.assign(e, { attempted: false, waiters: [] });
    const p = new Promise((resolve, reject) => e.waiters.push({ resolve, reject }));
    this.outbox.push(e);
    this.saveOutbox();
    if (this.wakeSender) this.wakeSender();
    return p;
  }

  saveOutbox() { this.store.set("outbox", this.outbox.map(({ channel, text, clientId, req }) => ({ channel, text, clientId, req }))); }

  finish(e, seq, err) {
    const i = this.outbox.indexOf(e);
    if (i < 0) return;
    this.outbox.splice(i, 1);
    this.saveOutbox();
    for (const w of e.waiters) (err ? w.reject(err) : w.resolve(seq));
    for (const fn of this.listeners[err ? "failed" : "ack"]) fn({ channel: e.channel, text: e.text, clientId: e.clientId }, err || seq);
  }

  // sender sends the outbox head, one at a time, each waiting for its ack.
  async sender() {
    while (!this.err) {
      const e = this.outbox.find((x) => this.subs.has(x.channel));
      if (!e) { await new Promise((r) => { this.wakeSender = r; }); this.wakeSender = null; continue; }
      await this.deliver(e);
    }
  }

  async deliver(e) {
    for (let attempts = 0; !this.err;) {
      let k;
      try { k = await this.waitActive(); } catch { return; }
      if (!this.subs.has(e.channel)) return; // waits until the channel is joined again
      e.attempted = true;
      try {
        const f = await k.call(e.req || { action: "send", channel: e.channel, text: e.text, clientId: e.clientId });
        this.finish(e, f.seq);
        return;
      } catch (err) {
        if (this.err) return;
        if (err.server && !err.retryable) { this.finish(e, 0, err); return; }
        if (err.server || err.code === "timeout") {
          attempts++;
          this.counters.sendRetries++;
          if (attempts >= this.opts.maxSendAttempts) {
            this.finish(e, 0, new WschatError("send_failed", `wschat client: send not acknowledged after ${attempts} attempts`, err));
            return;
          }
        }
        await sleep(this.backoff(attempts));
      }
    }
  }

  /** One page of members; cursor "" for the first. */
  async members(channel, cursor = "") {
    if (this.err) throw this.err;
    if (!this.subs.has(channel)) throw new WschatError("not_joined", `wschat client: channel not joined: ${channel}`);
    for (let attempt = 0; ; attempt++) {
      const k = await this.waitActive();
      try {
        const req = { action: "members", channel };
        if (cursor) req.cursor = cursor;
        const f = await k.call(req);
        return { members: f.members || [], next: f.next || "" };
      } catch (e) {
        if ((e.server && !e.retryable) || attempt + 1 >= this.opts.maxSendAttempts) throw e;
        await sleep(this.backoff(attempt));
      }
    }
  }
}

function toMessage(channel, m) {
  const out = { channel, seq: m.seq, userId: m.userId, userName: m.userName, text: m.text, clientId: m.clientId, sentAt: m.sentAt };
  // A backend's message says so: tell it from a user named like the backend.
  if (m.from === "server") out.from = "server";
  out.replyTo = m.replyTo || 0;
  out.rev = Math.max(m.rev || 0, m.seq);
  out.edited = !!m.editedAt;
  if (m.editedAt) out.editedAt = m.editedAt;
  out.deleted = !!m.deleted;
  out.reactions = (m.reactions || []).map((r) => ({ emoji: r.emoji, count: r.count, mine: !!r.mine }));
  out.replies = m.replies || 0;
  return out;
}

/** A joined channel: an ordered, deduplicated stream of events. */
export class Subscription {
  constructor(client, channel, from) {
    this.c = client;
    this.channel = channel;
    this.seq = new Sequencer(client.opts.reorderWindow, from);
    this.queue = [];
    this.listeners = new Set();
    this.readers = [];
    this.ended = false;
    this.err = null;
    this.gapTimer = null;
    this.catching = Promise.resolve();
    this.model = new Model(client.opts.modelSize);
  }
  get last() { return this.seq.last; }

  /** Call fn for every event; returns a function that stops it. Queued events are delivered first. */
  on(fn) {
    this.listeners.add(fn);
    const q = this.queue;
    this.queue = [];
    for (const e of q) fn(e);
    return () => this.listeners.delete(fn);
  }

  /** for await (const ev of sub) — ends when the subscription ends. */
  [Symbol.asyncIterator]() {
    return {
      next: () => {
        if (this.queue.length) return Promise.resolve({ value: this.queue.shift(), done: false });
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((r) => this.readers.push(r));
      },
      return: () => Promise.resolve({ value: undefined, done: true }),
    };
  }

  push(events) {
    if (this.ended || !events.length) return;
    if (this.seq.started) this.c.store.set("last:" + this.channel, this.seq.last);
    for (const e of events) this.model.fold(e);
    for (const e of events) {
      if (this.listeners.size) for (const fn of this.listeners) fn(e);
      else if (this.readers.length) this.readers.shift()({ value: e, done: false });
      else this.queue.push(e);
    }
  }

  end(err) {
    if (this.ended) return;
    this.ended = true;
    this.err = err;
    clearTimeout(this.gapTimer);
    clearTimeout(this.typingTimer);
    for (const r of this.readers) r({ value: undefined, done: true });
    this.readers = [];
  }

  /** Leave the channel and end the stream. */
  async leave() {
    if (this.c.subs.get(this.channel) !== this) throw new WschatError("not_joined", `wschat client: channel not joined: ${this.channel}`);
    this.c.subs.delete(this.channel);
    this.end(new WschatError("left", "wschat client: left the channel"));
    const k = await this.c.waitActive();
    try { await k.call({ action: "leave", channel: this.channel }); } catch (e) { if (e.code !== "not_member") throw e; }
  }

  live(m) { this.liveEvent({ type: "message", message: m }); }

  liveEvent(ev) {
    const out = [];
    const ok = this.seq.offerEvent(ev, out, false);
    this.push(out);
    if (!ok) this.kickNow();
    this.armGap(false);
  }

  armGap(force) {
    if (this.ended || this.gapTimer || (!force && !this.seq.gap)) return;
    this.gapTimer = setTimeout(() => { this.gapTimer = null; this.kickNow(); }, this.c.opts.gapTimeout);
  }

  kickNow() {
    if (this.ended) return;
    this.c.waitActive().then((k) => this.catchUp(k)).catch(() => { if (!this.ended && !this.c.err) this.armGap(true); });
  }

  async rejoin(k) {
    let err;
    for (let i = 0; i < 3; i++) {
      try {
        const ref = "j-" + Math.random().toString(36).slice(2, 12) + Date.now().toString(36);
        const f = await k.call({ action: "join", channel: this.channel, ref });
        if (typeof f.lastSeq === "number") this.seq.start(f.lastSeq);
        this.joinedAs(f);
        return;
      } catch (e) { err = e; if (e.code !== "timeout") throw e; }
    }
    throw err;
  }

  // catchUp: one at a time per subscription, chained like the Go mutex.
  catchUp(k) {
    const p = this.catching.then(() => this.catchUpNow(k));
    this.catching = p.catch(() => {});
    return p;
  }

  async catchUpNow(k) {
    if (!this.seq.started || this.ended) return;
    let after = this.seq.last, maxSeen = 0;
    for (let tries = 0; ;) {
      let f;
      try {
        f = await k.call({ action: "history", channel: this.channel, after, limit: this.c.opts.historyLimit });
      } catch (e) {
        if (tries++ < 3 && (e.code === "timeout" || (e.server && e.retryable))) {
          if (e.code === "not_member") await this.rejoin(k).catch(() => {});
          continue;
        }
        throw e;
      }
      const out = [];
      if (f.truncated && typeof f.oldest === "number") this.seq.discontinuity(f.oldest, out);
      for (const ev of historyEvents(this.channel, f)) { this.seq.offerEvent(ev, out, true); maxSeen = Math.max(maxSeen, seqOf(ev)); }
      if (typeof f.through === "number") this.seq.settle(f.through, out);
      else if (!f.more && maxSeen > 0) this.seq.settle(maxSeen, out);
      this.push(out);
      after = Math.max(this.seq.last, typeof f.next === "number" ? f.next : 0);
      if (!f.more) { this.armGap(false); return; }
    }
  }
}

// ---------------------------------------------------------------------------
// The message lifecycle (docs/protocol.md, docs/client.md): edits, deletes
// and reactions are updates in the channel's stream, each under its own seq,
// so they reach the application exactly once and in order like messages,
// and each subscription folds them into a model of every message's current
// state. Replies are messages with a parent. Typing and read state travel
// beside the stream. Kept in its own section (methods added to Client and
// Subscription below), apart from the connection code.

export const MaxEmojiBytes = 32;
/** How often typing() sends while called; how long an indicator lasts. */
export const TypingEvery = 3000;
/** The longest mute, in seconds (30 days). */
export const MaxMuteSeconds = 30 * 24 * 3600;
export const TypingExpiry = 6000;
const shortcodeRE = /^:[a-z0-9_+-]{1,30}:$/;
const emojiRE = /^(?:\p{Regional_Indicator}{2}|[0-9#*]\uFE0F?\u20E3|\p{Extended_Pictographic}(?:\uFE0F|\p{Emoji_Modifier}|[\u{E0020}-\u{E007F}])*(?:\u200D\p{Extended_Pictographic}(?:\uFE0F|\p{Emoji_Modifier}|[\u{E0020}-\u{E007F}])*)*)$/u;

function validEmoji(e) {
  if (typeof e !== "string" || new TextEncoder().encode(e).length > MaxEmojiBytes || !(shortcodeRE.test(e) || emojiRE.test(e))) {
    throw new WschatError("invalid", `wschat client: ${JSON.stringify(e)} is not one emoji or a :shortcode:`);
  }
}

function validSeq(seq) {
  if (!Number.isSafeInteger(seq) || seq < 1) throw new WschatError("invalid", `wschat client: seq ${seq} is not a message seq`);
}

/**
 * Model: one subscription's messages in their current state. Every state
 * the server sends carries its rev; a message keeps the highest. A state
 * from a broadcast has no "mine" flags (one frame for every member): the
 * known ones are kept; a history answer's (personal) is taken whole.
 */
export class Model {
  constructor(limit = 10000) {
    this.limit = limit;
    this.me = "";
    this.msgs = new Map();
    this.lastRead = 0;
    this.reads = new Map();
    this.typists = new Map();
    // When the server saw each typist's signal (ms): only a message sent
    // at or after it ends the indicator (one sent before, delivered late
    // by a catch-up, does not).
    this.typingSince = new Map();
  }
  fold(ev) {
    switch (ev.type) {
      case "message":
        this.put(ev.message, ev.personal);
        if (ev.parent) this.put(ev.parent, ev.personal);
        if (!(Date.parse(ev.message.sentAt) < (this.typingSince.get(ev.message.userId) || 0))) this.typists.delete(ev.message.userId);
        break;
      case "update": {
        const u = ev.update;
        this.put(u.state, u.personal);
        if (u.userId === this.me && (u.action === "react" || u.action === "unreact")) this.mine(u.target, u.emoji, u.action === "react");
        break;
      }
      case "typing":
        if (ev.typing.userId !== this.me) {
          this.typists.set(ev.typing.userId, ev.typing);
          this.typingSince.set(ev.typing.userId, ev.since || 0);
        }
        break;
      case "read": {
        const r = ev.read;
        if (r.userId === this.me) { this.lastRead = Math.max(this.lastRead, r.seq); break; }
        if (r.seq > ((this.reads.get(r.userId) || {}).seq || 0)) this.reads.set(r.userId, r);
        this.typists.delete(r.userId);
        break;
      }
      default: break;
    }
  }
  put(st, personal) {
    if (!st || !st.seq) return;
    const cur = this.msgs.get(st.seq);
    if (cur && (cur.rev > st.rev || (cur.rev === st.rev && !personal))) return;
    const next = { ...st, reactions: (st.reactions || []).map((r) => ({ ...r })) };
    if (!personal && cur) {
      for (const r of next.reactions) {
        const c = cur.reactions.find((x) => x.emoji === r.emoji);
        r.mine = !!(c && c.mine);
      }
    }
    this.msgs.set(st.seq, next);
    if (this.msgs.size > this.limit) {
      const seqs = [...this.msgs.keys()].sort((a, b) => a - b);
      for (const s of seqs.slice(0, Math.max(1, Math.floor(seqs.length / 10)))) this.msgs.delete(s);
    }
  }
  mine(seq, emoji, on) {
    const cur = this.msgs.get(seq);
    if (!cur) return;
    for (const r of cur.reactions) if (r.emoji === emoji) r.mine = on && r.count > 0;
  }
  message(seq) {
    const m = this.msgs.get(seq);
    return m ? { ...m, reactions: m.reactions.map((r) => ({ ...r })) } : undefined;
  }
  messages() { return [...this.msgs.keys()].sort((a, b) => a - b).map((s) => this.message(s)); }
  unread() {
    let n = 0;
    for (const [seq, m] of this.msgs) if (seq > this.lastRead && m.userId !== this.me && !m.deleted) n++;
    return n;
  }
  typing(now = Date.now()) {
    const out = [];
    for (const [id, t] of this.typists) {
      if (t.until <= now) this.typists.delete(id);
      else out.push(t);
    }
    return out.sort((a, b) => (a.userName < b.userName ? -1 : 1));
  }
}

// historyEvents: a history answer's messages and updates, each with the
// current state of what it targets (personal: this user's answer).
function historyEvents(channel, f) {
  const states = new Map();
  for (const e of f.states || []) states.set(e.seq, toMessage(channel, e));
  for (const e of f.messages || []) states.set(e.seq, toMessage(channel, e));
  const out = [];
  for (const e of f.messages || []) {
    const ev = { type: "message", message: toMessage(channel, e), personal: true };
    if (e.replyTo && states.has(e.replyTo)) ev.parent = states.get(e.replyTo);
    out.push(ev);
  }
  for (const u of f.updates || []) {
    out.push({ type: "update", update: { ...updateOf(channel, u), state: states.get(u.target), personal: true } });
  }
  for (const m of f.moderation || []) out.push({ type: "moderation", moderation: moderationOf(channel, m) });
  return out;
}

// moderationOf: a moderation action (live or in history) as the stream carries it.
function moderationOf(channel, m) {
  const out = { channel, seq: m.seq, op: m.op, userId: m.userId, userName: m.userName || m.userId, byId: m.byId, byName: m.byName, at: m.at };
  for (const k of ["from", "until", "role", "reason", "clientId"]) if (m[k]) out[k] = m[k];
  return out;
}

function updateOf(channel, u) {
  const out = { channel, seq: u.seq, action: u.action, target: u.target, userId: u.userId, userName: u.userName, at: u.at };
  if (u.emoji) out.emoji = u.emoji;
  if (u.clientId) out.clientId = u.clientId;
  return out;
}

function liveMessage(f) {
  const ev = { type: "message", message: toMessage(f.channel, f) };
  if (f.parent) ev.parent = toMessage(f.channel, f.parent);
  return ev;
}

Object.assign(Client.prototype, {
  /** Edit your message seq; resolves with the update's seq once acked. */
  edit(channel, seq, text) {
    validChannel(channel); validSeq(seq); validText(text);
    return this.enqueueChange(channel, (clientId) => ({ action: "edit", channel, seq, text, clientId }));
  },
  /** Delete (erase) your message seq; resolves with the update's seq, 0 if it was already deleted. */
  delete(channel, seq) {
    validChannel(channel); validSeq(seq);
    return this.enqueueChange(channel, (clientId) => ({ action: "delete", channel, seq, clientId }));
  },
  /** React with emoji (a Unicode emoji or :shortcode:); 0 if you already had. */
  react(channel, seq, emoji) {
    validChannel(channel); validSeq(seq); validEmoji(emoji);
    return this.enqueueChange(channel, (clientId) => ({ action: "react", channel, seq, emoji, clientId }));
  },
  /** Remove your emoji; 0 if it was not there. */
  unreact(channel, seq, emoji) {
    validChannel(channel); validSeq(seq); validEmoji(emoji);
    return this.enqueueChange(channel, (clientId) => ({ action: "unreact", channel, seq, emoji, clientId }));
  },
  /** Reply to message parent; resolves with the reply's seq, as send does. */
  reply(channel, parent, text) {
    validChannel(channel); validSeq(parent); validText(text);
    return this.enqueueChange(channel, (clientId) => ({ action: "send", channel, text, clientId, replyTo: parent }), text);
  },
  /** Mute userId in channel for seconds (owners and moderators); resolves with the event's seq. */
  mute(channel, userId, seconds, reason) {
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > MaxMuteSeconds) throw new WschatError("invalid", `wschat client: a mute of 1 to ${MaxMuteSeconds} seconds`);
    return this.moderate(channel, { op: "mute", userId, seconds, reason });
  },
  unmute(channel, userId) { return this.moderate(channel, { op: "unmute", userId }); },
  /** Ban userId from channel: out at once, cannot rejoin until unbanned. */
  ban(channel, userId, reason) { return this.moderate(channel, { op: "ban", userId, reason }); },
  unban(channel, userId) { return this.moderate(channel, { op: "unban", userId }); },
  /** Owners: make userId a "member" or "moderator" of channel. */
  setRole(channel, userId, role) { return this.moderate(channel, { op: "role", userId, role }); },
  moderate(channel, m) {
    validChannel(channel);
    if (typeof m.userId !== "string" || !m.userId) throw new WschatError("invalid", "wschat client: userId is required");
    const req = { action: "moderate", channel, op: m.op, userId: m.userId };
    for (const k of ["seconds", "role", "reason"]) if (m[k] !== undefined && m[k] !== "") req[k] = m[k];
    return this.enqueueChange(channel, (clientId) => ({ ...req, clientId }));
  },
  enqueueChange(channel, build, text) {
    const clientId = this.idPrefix + ++this.idN;
    return this.enqueue({ channel, text, clientId, req: build(clientId) });
  },
  /** Say you are typing: call on every keystroke; sends at most every TypingEvery per channel, never throws. */
  typing(channel) {
    const k = this.active;
    if (!k || k.closed || !this.subs.has(channel)) return;
    const now = Date.now();
    if (now - (this.typed.get(channel) || 0) < TypingEvery) return;
    this.typed.set(channel, now);
    try { k.ws.send(JSON.stringify({ action: "typing", channel })); } catch { /* lost: the next keystroke tries again */ }
  },
  /**
   * Record that you read channel up to seq (all your devices follow). Call
   * it as often as you like: a seq at or below what is stored costs
   * nothing, and calls made while one is on its way are coalesced into one
   * more request for the highest seq.
   */
  markRead(channel, seq) {
    const s = this.subs.get(channel);
    if (!s) return Promise.reject(new WschatError("not_joined", `wschat client: channel not joined: ${channel}`));
    if (seq <= s.model.lastRead) return Promise.resolve();
    s.readWanted = Math.max(s.readWanted || 0, seq);
    if (!s.reading) {
      s.reading = (async () => {
        try {
          while (s.readWanted > s.model.lastRead) {
            const want = s.readWanted;
            const f = await this.request({ action: "read", channel, seq: want });
            s.fold({ type: "read", read: { channel, userId: f.userId, userName: f.userName, seq: f.seq } });
            if (f.seq < want) break; // beyond what the server has: do not loop
          }
        } finally { s.reading = null; }
      })();
    }
    return s.reading;
  },
  /** Your channels, on every device: last seq, last read, unread count, last message; private channels and direct messages you are listed on (a DM with peerId, peerName). */
  async channels() {
    const f = await this.request({ action: "channels" });
    return (f.channels || []).map((c) => ({ ...c, unreadMore: !!c.unreadMore, private: !!c.private, last: c.last ? toMessage(c.channel, c.last) : null }));
  },
  /** One page of the replies to message parent (after reply seq after). */
  async thread(channel, parent, after = 0) {
    if (!this.subs.has(channel)) throw new WschatError("not_joined", `wschat client: channel not joined: ${channel}`);
    const f = await this.request({ action: "history", channel, thread: parent, after, limit: this.opts.historyLimit });
    const p = (f.states || []).find((e) => e.seq === parent);
    return { parent: p ? toMessage(channel, p) : null, replies: (f.messages || []).map((e) => toMessage(channel, e)), more: !!f.more, next: f.next || 0 };
  },
  // request: one request without a clientId, retried a bounded number of times.
  async request(req) {
    for (let attempt = 0; ; attempt++) {
      if (this.err) throw this.err;
      const k = await this.waitActive();
      try { return await k.call(req); } catch (e) {
        if ((e.server && !e.retryable) || attempt + 1 >= this.opts.maxSendAttempts) throw e;
        await sleep(this.backoff(attempt));
      }
    }
  },
  handleLifecycle(k, f, s) {
    switch (f.type) {
      case "update":
        if (s) s.liveEvent({ type: "update", update: { ...updateOf(f.channel, f), state: toMessage(f.channel, f.message || {}) } });
        break;
      case "typing":
        if (s) {
          s.fold({ type: "typing", typing: { channel: f.channel, userId: f.userId, userName: f.userName, until: Date.now() + (f.expiresIn || TypingExpiry) }, since: Date.parse(f.at) || 0 });
          s.armTyping();
        }
        break;
      case "read":
        if (f.userId === this.userId) k.resolve("read", f);
        if (s) s.fold({ type: "read", read: { channel: f.channel, userId: f.userId, userName: f.userName, seq: f.seq } });
        break;
      case "channels": k.resolve("channels", f); break;
      case "moderation":
        if (s) s.liveEvent({ type: "moderation", moderation: moderationOf(f.channel, f) });
        break;
      default: break;
    }
  },
});

Object.assign(Subscription.prototype, {
  joinedAs(f) {
    if (f.userId) { this.model.me = f.userId; this.c.userId = f.userId; }
    if (typeof f.lastRead === "number") this.model.lastRead = Math.max(this.model.lastRead, f.lastRead);
  },
  // fold: an event beside the stream (typing, read): to the model and the application.
  fold(ev) { this.push([ev]); },
  // armTyping schedules the next expiry of a typing indicator: the
  // subscription then emits a "typing" event whose until has passed.
  armTyping() {
    clearTimeout(this.typingTimer);
    if (this.ended || !this.model.typists.size) return;
    const next = Math.min(...[...this.model.typists.values()].map((t) => t.until));
    this.typingTimer = setTimeout(() => {
      const now = Date.now();
      const gone = [...this.model.typists.values()].filter((t) => t.until <= now);
      this.model.typing(now); // drops them
      if (!this.ended) for (const t of gone) for (const fn of this.listeners) fn({ type: "typing", typing: t });
      this.armTyping();
    }, Math.max(0, next - Date.now()) + 5);
  },
  /** Message seq in its current state (undefined if never seen). */
  message(seq) { return this.model.message(seq); },
  /** Every message seen, current state, in seq order. */
  messages() { return this.model.messages(); },
  /** Messages above lastRead, not yours, not deleted. */
  unread() { return this.model.unread(); },
  /** Who is typing now (you excluded). */
  typing() { return this.model.typing(); },
  /** Read receipts: other user id -> seq read up to. */
  readBy() { return Object.fromEntries([...this.model.reads].map(([id, r]) => [id, r.seq])); },
});
Object.defineProperty(Subscription.prototype, "lastRead", { get() { return this.model.lastRead; } });
