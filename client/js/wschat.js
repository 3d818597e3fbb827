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
    return this.code === "internal" || this.code === "rate_limited" || this.code === "not_member";
  }
}

const timeoutError = () => new WschatError("timeout", "wschat client: no answer in time");
const lostError = () => new WschatError("connection_lost", "wschat client: connection lost");

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
  offer(m, out, force) {
    if (!this.started) this.start(m.seq - 1);
    if (m.seq <= this.last || this.held.has(m.seq)) return true;
    if (m.seq !== this.last + 1) {
      if (this.held.size >= this.limit && !force) return false;
      this.held.set(m.seq, m);
      return true;
    }
    this.last = m.seq;
    out.push({ type: "message", message: m });
    this.drain(out);
    return true;
  }
  drain(out) {
    while (this.held.has(this.last + 1)) {
      const m = this.held.get(this.last + 1);
      this.held.delete(m.seq);
      this.last = m.seq;
      out.push({ type: "message", message: m });
    }
  }
  settle(through, out) {
    if (!this.started) { this.start(through); return; }
    while (this.last < through) {
      const m = this.held.get(this.last + 1);
      if (m) { this.held.delete(m.seq); out.push({ type: "message", message: m }); }
      this.last++;
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

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

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
    ws.onmessage = (ev) => this.c.handleFrame(this, ev.data);
    ws.onclose = (ev) => this.end(ev && ev.code);
    ws.onerror = () => {};
    this.pinger = setInterval(() => {
      this.call({ action: "ping" }).catch((e) => { if (e.code === "timeout") this.close(); });
    }, client.opts.pingInterval);
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
    clearInterval(this.pinger);
    clearTimeout(this.renewer);
    for (const w of this.waiters.values()) w.reject(lostError());
    this.waiters.clear();
    this.markDone();
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
        channel: req.channel, clientId: req.clientId, ref: req.ref, peer: req.action === "direct" ? req.userId : undefined,
        resolve: (f) => { clearTimeout(timer); f.type === "error" ? reject(new ServerError(f)) : resolve(f); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
      this.waiters.set(req.action, w);
      try { this.ws.send(JSON.stringify(req)); } catch (e) { this.waiters.delete(req.action); w.reject(lostError()); }
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
  pingInterval: 5 * 60e3, maxLifetime: 2 * 3600e3 - 5 * 60e3, ackTimeout: 10e3, dialTimeout: 15e3,
  backoffBase: 250, backoffMax: 30e3, outboxSize: 256, maxSendAttempts: 10, reorderWindow: 1024,
  gapTimeout: 2e3, historyLimit: 100, store: null, renewBefore: 2 * 60e3,
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
    this.counters = { connects: 0, reconnects: 0, handovers: 0, sendRetries: 0, renewals: 0 };
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
  /** Unacknowledged sends, oldest first (restored from the store after a reload too). */
  pending() { return this.outbox.map(({ channel, text, clientId }) => ({ channel, text, clientId })); }

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
        this.setState(State.Reconnecting, "connection lost");
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
        if (s) s.live(toMessage(f.channel, f));
        break;
      case "joined": case "left":
        k.resolve(f.type === "joined" ? "join" : "leave", f);
        if (s) s.push([{ type: f.type, presence: { channel: f.channel, userId: f.userId, userName: f.userName, at: f.at } }]);
        break;
      case "ack": k.resolve("send", f); break;
      case "history": case "members": k.resolve(f.type, f); break;
      case "pong": k.resolve("ping", f); break;
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
      default: break; // API Gateway's own frame has no type
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
    const e = { channel, text, clientId: this.idPrefix + ++this.idN, attempted: false, waiters: [] };
    const p = new Promise((resolve, reject) => e.waiters.push({ resolve, reject }));
    this.outbox.push(e);
    this.saveOutbox();
    if (this.wakeSender) this.wakeSender();
    return p;
  }

  saveOutbox() { this.store.set("outbox", this.pending()); }

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
        const f = await k.call({ action: "send", channel: e.channel, text: e.text, clientId: e.clientId });
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
  return { channel, seq: m.seq, userId: m.userId, userName: m.userName, text: m.text, clientId: m.clientId, sentAt: m.sentAt };
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

  live(m) {
    const out = [];
    const ok = this.seq.offer(m, out, false);
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
      for (const m of f.messages || []) { this.seq.offer(toMessage(this.channel, m), out, true); maxSeen = Math.max(maxSeen, m.seq); }
      if (typeof f.through === "number") this.seq.settle(f.through, out);
      else if (!f.more && maxSeen > 0) this.seq.settle(maxSeen, out);
      this.push(out);
      after = Math.max(this.seq.last, typeof f.next === "number" ? f.next : 0);
      if (!f.more) { this.armGap(false); return; }
    }
  }
}
