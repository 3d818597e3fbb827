// Tests of wschat.js against the fake server (fakeserver.js), run with
// `node --test client/js/`. The process must exit on its own when the
// tests end: a timer or socket the client forgot would keep it alive.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { dial, Sequencer, MemoryStore, LocalStorageStore, State } from "./wschat.js";
import { FakeServer } from "./fakeserver.js";

const { WebSocket } = createRequire(import.meta.url)("ws");

const fast = (user, extra = {}) => ({
  WebSocket, token: async () => user, ackTimeout: 300, gapTimeout: 40, backoffBase: 5, backoffMax: 80,
  pingInterval: 1000, dialTimeout: 2000, historyLimit: 20, maxSendAttempts: 30, ...extra,
});

async function withServer(faults, fn) {
  const srv = await new FakeServer(faults).start();
  const clients = [];
  try {
    await fn(srv, async (user, extra) => { const c = await dial(srv.url, fast(user, extra)); clients.push(c); return c; });
  } finally {
    for (const c of clients) c.close();
    await srv.stop();
  }
}

const until = async (cond, ms = 10000) => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
};

// check: strictly increasing, each acked seq exactly once unless in a hole.
function check(events, acked) {
  const seen = new Map(), holes = [];
  let last = 0;
  const v = { deliveries: 0, lost: 0, duplicated: 0, outOfOrder: 0, discontinuities: 0 };
  for (const e of events) {
    if (e.type === "message") {
      const s = e.message.seq;
      v.deliveries++;
      seen.set(s, (seen.get(s) || 0) + 1);
      if (seen.get(s) > 1) v.duplicated++;
      else if (s <= last) v.outOfOrder++;
      last = Math.max(last, s);
    } else if (e.type === "discontinuity") {
      v.discontinuities++;
      holes.push(e.discontinuity);
      last = Math.max(last, e.discontinuity.to);
    }
  }
  for (const s of acked) if (!seen.has(s) && !holes.some((h) => s >= h.from && s <= h.to)) v.lost++;
  return v;
}

async function runLoad(srv, connect, { senders = 2, receivers = 2, messages = 15, maxLifetime, pace = 0, from } = {}) {
  const extra = maxLifetime ? { maxLifetime } : {};
  const recs = [];
  for (let i = 0; i < receivers; i++) {
    const c = await connect(`reader-${i}`, extra);
    const s = await c.join("general", from === undefined ? {} : { from });
    const events = [];
    s.on((e) => events.push(e));
    recs.push({ c, events });
  }
  const acked = [];
  let sendErrors = 0;
  const writers = [];
  for (let i = 0; i < senders; i++) {
    const c = await connect(`writer-${i}`, extra);
    writers.push(c);
    await c.join("general");
  }
  await Promise.all(writers.map(async (c) => {
    for (let n = 0; n < messages; n++) {
      try { acked.push(await c.send("general", `hello ${n}`)); } catch (e) { sendErrors++; }
      if (pace) await new Promise((r) => setTimeout(r, pace));
    }
  }));
  await until(() => recs.every((r) => check(r.events, acked).lost === 0));
  const total = { acked: acked.length, sendErrors, deliveries: 0, lost: 0, duplicated: 0, outOfOrder: 0, discontinuities: 0, reconnects: 0, handovers: 0, retries: 0 };
  for (const r of recs) {
    const v = check(r.events, acked);
    for (const k of Object.keys(v)) total[k] += v[k];
  }
  for (const c of [...recs.map((r) => r.c), ...writers]) {
    const st = c.stats();
    total.reconnects += st.reconnects;
    total.handovers += st.handovers;
    total.retries += st.sendRetries;
  }
  assert.equal(new Set(acked).size, acked.length, "a seq acked for two messages");
  return total;
}

const scenarios = [
  ["drop", { drop: 0.1 }, {}, (c, f) => Math.min(c.drops, f.reconnects)],
  ["reorder", { reorder: 0.3 }, {}, (c) => c.reorders],
  ["duplicate", { duplicate: 0.3 }, {}, (c) => c.duplicates],
  ["gap", { gap: 0.2 }, {}, (c) => c.gaps],
  ["slow-store", { slowStore: 0.3 }, {}, (c) => c.slowStores],
  ["internal", { internal: 0.3 }, {}, (c) => c.internals],
  ["rate-limited", { rateLimit: 0.3 }, {}, (c) => c.rateLimits],
  ["ack-timeout", { ackDelay: 0.15, ackDelayBy: 400 }, {}, (c) => c.ackDelays],
  ["handover", {}, { maxLifetime: 120, pace: 10, messages: 30 }, (c, f) => f.handovers],
  ["lifetime-cut", { maxLifetime: 150 }, { pace: 10, messages: 30 }, (c) => c.cuts],
  ["old-server", { omitProtocolAddition: true, reorder: 0.2, duplicate: 0.2, gap: 0.1 }, { from: 0 }, (c) => c.gaps],
];

for (const [name, faults, load, injected] of scenarios) {
  test(`fault ${name}: exactly once, in seq order`, async (t) => {
    await withServer(faults, async (srv, connect) => {
      const f = await runLoad(srv, connect, load);
      const n = injected(srv.counts, f);
      t.diagnostic(`FIGURES fault=${name} acked=${f.acked} deliveries=${f.deliveries} lost=${f.lost} duplicated=${f.duplicated} out_of_order=${f.outOfOrder} discontinuities=${f.discontinuities} reconnects=${f.reconnects} handovers=${f.handovers} send_retries=${f.retries} injected=${n}`);
      assert.deepEqual({ lost: f.lost, duplicated: f.duplicated, outOfOrder: f.outOfOrder, sendErrors: f.sendErrors },
        { lost: 0, duplicated: 0, outOfOrder: 0, sendErrors: 0 });
      assert.equal(f.acked, (load.messages || 15) * 2);
      assert.ok(n > 0, `fault ${name} never happened: the run proves nothing`);
    });
  });
}

test("messages say who sent them: from and userId next to userName", async () => {
  await withServer({}, async (srv, connect) => {
    srv.post("general", "from history");
    const c = await connect("Orders");
    const s = await c.join("general", { from: 0 });
    const got = [];
    s.on((e) => { if (e.type === "message") got.push(`${e.message.from ?? ""}/${e.message.userId}/${e.message.userName}`); });
    srv.post("general", "live");
    await c.send("general", "a user named like the backend");
    await until(() => got.length >= 3, 3000);
    assert.deepEqual(got, ["server/server/Orders", "server/server/Orders", "/Orders/Orders"]);
  });
});

test("own messages read as stored: a text a before-send hook replaced comes back in the ack", async () => {
  await withServer({ mask: "darn" }, async (srv, connect) => {
    const c = await connect("ann");
    const s = await c.join("general", { from: 0 });
    const got = [];
    s.on((e) => { if (e.type === "message") got.push(e.message.text); });
    await c.send("general", "darn it");
    await c.send("general", "fine");
    await until(() => got.length >= 2, 3000);
    assert.deepEqual(got, ["**** it", "fine"]);
  });
});

test("discontinuity: history past retention is reported with its bounds", async () => {
  await withServer({}, async (srv, connect) => {
    for (let i = 0; i < 10; i++) srv.post("general", `old ${i}`);
    srv.expire("general", 6);
    const c = await connect("ann");
    const s = await c.join("general", { from: 2 });
    srv.post("general", "new");
    const got = [];
    s.on((e) => { if (e.type === "message") got.push(e.message.seq); if (e.type === "discontinuity") got.push(`d${e.discontinuity.from}-${e.discontinuity.to}`); });
    await until(() => got.length >= 7, 3000);
    assert.deepEqual(got, ["d3-5", 6, 7, 8, 9, 10, 11]);
  });
});

test("join completes only on its own joined, not on another member's concurrent one", async () => {
  await withServer({ foreignJoinFirst: true }, async (srv, connect) => {
    for (let i = 0; i < 3; i++) srv.post("general", `old ${i}`);
    const c = await connect("ann");
    const s = await c.join("general");
    const got = [];
    s.on((e) => { if (e.type === "message") got.push(e.message.seq); });
    for (let i = 0; i < 6; i++) srv.post("general", `new ${i}`);
    await until(() => got.length >= 6, 3000).catch(() => {});
    assert.deepEqual(got, [4, 5, 6, 7, 8, 9]);
  });
});

test("token refused or provider failing stops with a clear code", async () => {
  const srv = await new FakeServer({ refuseToken: "mallory" }).start();
  try {
    const cases = [
      ["refused", async () => "mallory", "unauthorized"],
      ["provider", async () => { throw new Error("issuer down"); }, "token"],
    ];
    for (const [, token, code] of cases) {
      const states = [];
      await assert.rejects(dial(srv.url, fast("", { token, onState: (s) => states.push(s.to) })), (e) => e.code === code);
      assert.equal(states.at(-1), State.Closed);
    }
  } finally { await srv.stop(); }
});

test("bad input gets clear errors before anything is sent", async () => {
  await withServer({}, async (srv, connect) => {
    const c = await connect("ann");
    await c.join("general");
    const cases = [
      [() => c.send("general", "é".repeat(4001)), "text_too_long"],
      [() => c.send("general", " \n"), "invalid"],
      [() => c.send("general", "a\uD800b"), "invalid"],
      [() => c.send("random", "hi"), "not_joined"],
      [() => c.join("Bad Channel"), "invalid"],
      [() => c.join("general"), "already_joined"],
      [() => c.members("random"), "not_joined"],
    ];
    for (const [fn, code] of cases) await assert.rejects(async () => fn(), (e) => e.code === code, code);
    assert.equal(await c.send("general", "é".repeat(4000)), 1);
    c.close();
    await assert.rejects(c.send("general", "hi"), (e) => e.code === "closed");
  });
});

test("outbox full, then members paging and presence", async () => {
  await withServer({}, async (srv, connect) => {
    const ann = await connect("ann", { outboxSize: 2 });
    const s = await ann.join("general");
    const joined = [];
    s.on((e) => { if (e.type === "joined") joined.push(e.presence.userId); });
    for (const u of ["bob", "cy"]) await (await connect(u)).join("general");
    const users = [];
    let cursor = "";
    do { const p = await ann.members("general", cursor); users.push(...p.members.map((m) => m.userId)); cursor = p.next; } while (cursor);
    assert.deepEqual(users, ["ann", "bob", "cy"]);
    await until(() => joined.length >= 3, 2000);
    assert.deepEqual(joined, ["ann", "bob", "cy"]);
    srv.f.silent = true;
    const p1 = ann.send("general", "a"), p2 = ann.send("general", "b");
    await assert.rejects(ann.send("general", "c"), (e) => e.code === "outbox_full");
    ann.close();
    await assert.rejects(p1, (e) => e.code === "closed");
    await assert.rejects(p2, (e) => e.code === "closed");
  });
});

// A Storage double with localStorage's interface, as a browser has it.
class FakeStorage {
  constructor() { this.m = new Map(); }
  getItem(k) { return this.m.has(k) ? this.m.get(k) : null; }
  setItem(k, v) { this.m.set(k, String(v)); }
  removeItem(k) { this.m.delete(k); }
}

test("a reload keeps the unacked message and the last seq: resent with its clientId, shown once", async () => {
  await withServer({}, async (srv, connect) => {
    const storage = new FakeStorage();
    const reader = await connect("bob");
    const rs = await reader.join("general");
    const seen = [];
    rs.on((e) => { if (e.type === "message") seen.push(e.message); });

    const page1 = await connect("ann", { store: new LocalStorageStore(storage) });
    const s1 = await page1.join("general");
    const shown1 = [];
    s1.on((e) => { if (e.type === "message") shown1.push(e.message.text); });
    await page1.send("general", "before reload");
    // Stored and fanned out, but the ack is late: the page reloads unacked.
    Object.assign(srv.f, { ackDelay: 1, ackDelayBy: 60000 });
    page1.send("general", "unacked at reload").catch(() => {});
    // Sent without echo: the page shows its own message from the ack, so
    // it has not shown this one; wait until the server stored it.
    await until(() => seen.length === 2, 2000);
    assert.deepEqual(shown1, ["before reload"]);
    const clientId = page1.pending()[0].clientId;
    page1.close();
    Object.assign(srv.f, { ackDelay: 0 });
    srv.post("general", "while away");

    const page2 = await connect("ann", { store: new LocalStorageStore(storage) });
    assert.equal(page2.pending()[0].clientId, clientId);
    const acks = [];
    page2.on("ack", (e, seq) => acks.push([e.clientId, seq]));
    const s2 = await page2.join("general"); // resumes after the stored last seq
    const shown2 = [];
    s2.on((e) => { if (e.type === "message") shown2.push(e.message.text); });
    await until(() => acks.length === 1 && shown2.length === 2, 3000);
    await new Promise((r) => setTimeout(r, 100)); // room for a wrong second delivery
    assert.deepEqual(acks, [[clientId, 2]]);
    assert.deepEqual(shown2, ["unacked at reload", "while away"], "the page shows only what it had not shown, once");
    assert.deepEqual(seen.map((m) => m.text), ["before reload", "unacked at reload", "while away"]);
    assert.deepEqual(page2.pending(), []);
  });
});

// The timeout is generous: a pong late on a loaded machine must not look
// like a dead connection (it did at 60 ms, under a CPU hog).
test("keep-alive: pings while idle; a connection without pongs is replaced", async () => {
  await withServer({}, async (srv, connect) => {
    const c = await connect("ann", { pingInterval: 30, heartbeatTimeout: 1000 });
    // Bounded by a count, not a fixed window: a loaded machine delays timers.
    await until(() => srv.counts.pings >= 3, 3000);
    assert.ok(srv.counts.pings >= 3, `got ${srv.counts.pings} pings at a 30 ms keep-alive, want at least 3`);
    assert.equal(c.stats().reconnects, 0);
    srv.f.noPong = true;
    await until(() => c.stats().reconnects > 0, 5000);
    assert.ok(c.stats().reconnects > 0, "the dead connection was not replaced");
  });
});

// A connection that goes silent without a close is found within
// heartbeatInterval + heartbeatTimeout, replaced with an upgrade that names
// it, and what was sent meanwhile arrives once, in order.
test("heartbeat: a silent connection is found, replaced, named, and nothing is lost", async () => {
  await withServer({}, async (srv, connect) => {
    const states = [];
    const c = await connect("ann", { heartbeatInterval: 150, heartbeatTimeout: 100, pingInterval: 60000, onState: (s) => states.push(s) });
    const sub = await c.join("general", { from: 0 });
    const seqs = [];
    sub.on((ev) => { if (ev.type === "message") seqs.push(ev.message.seq); });
    await until(() => c.active && c.active.id !== "", 1000);
    const lostId = c.active.id;
    const silenced = Date.now();
    srv.silenceAll();
    const want = [];
    for (let i = 0; i < 5; i++) want.push(srv.post("general", "meanwhile " + i));
    await until(() => states.some((s) => s.err && s.err.code === "silent"), 2000);
    const found = states.find((s) => s.err && s.err.code === "silent");
    assert.ok(found, "the silent connection was not found");
    assert.equal(found.to, State.Reconnecting);
    // A sanity bound; the figures are the reliability suite's and make bench's.
    assert.ok(found.at - silenced <= 150 + 100 + 1000, `found after ${found.at - silenced} ms`);
    await until(() => seqs.length >= want.length, 3000);
    assert.deepEqual(seqs, want);
    assert.deepEqual(srv.replaces, [lostId]);
    assert.equal(c.stats().silent, 1);
  });
});

test("heartbeat: a busy connection sends no probes; a waiting request probes early; checkNow probes at once", async () => {
  await withServer({}, async (srv, connect) => {
    // Frames every 15 ms against a 1 s heartbeat: only a stall of a second
    // on a loaded machine could let a probe through.
    const c = await connect("ann", { heartbeatInterval: 1000, heartbeatTimeout: 1000, pingInterval: 60000, ackTimeout: 2000 });
    await c.join("general");
    await until(() => srv.counts.pings === 1, 1000);
    for (let i = 0; i < 100; i++) { srv.post("general", "busy"); await new Promise((r) => setTimeout(r, 15)); }
    assert.equal(srv.counts.pings, 1, "probes while frames kept arriving");
    await until(() => srv.counts.pings >= 2, 3000);
    assert.ok(srv.counts.pings >= 2, "no probe once quiet");
    c.close(); // its probes would count below

    const c2 = await connect("bob", { heartbeatInterval: 60000, heartbeatTimeout: 400, pingInterval: 60000, ackTimeout: 2000 });
    const sub2 = await c2.join("general");
    // The join's catch-up done and the first ping answered: a frame that
    // arrived after the send would rightly count as a sign of life.
    await sub2.catching;
    await until(() => c2.active && c2.active.id !== "" && c2.active.waiters.size === 0, 1000);
    const before = srv.counts.pings;
    srv.f.silent = true; // sends go unanswered, pongs still come
    const start = Date.now();
    c2.send("general", "unanswered").catch(() => {});
    await until(() => srv.counts.pings > before, 2000);
    assert.ok(srv.counts.pings > before, "no early probe for the waiting send");
    assert.ok(Date.now() - start >= 80, "the probe did not wait a quarter of heartbeatTimeout");
    srv.f.silent = false;
    const n = srv.counts.pings;
    c2.checkNow();
    await until(() => srv.counts.pings > n, 1000);
    assert.ok(srv.counts.pings > n, "checkNow sent no probe");
    assert.equal(c2.stats().reconnects, 0);
  });
});

test("Sequencer: dedupe, reorder, settle, discontinuity", () => {
  const cases = [
    ["reordered", 0, [["o", 2], ["o", 3], ["o", 1]], "1 2 3"],
    ["duplicates", 0, [["o", 1], ["o", 1], ["o", 2]], "1 2"],
    ["gap waits", 0, [["o", 1], ["o", 3]], "1"],
    ["settled", 0, [["o", 1], ["o", 3], ["s", 3]], "1 3"],
    ["hole", 2, [["d", 6], ["o", 6]], "d3-5 6"],
    ["window full", 0, [["o", 3], ["o", 4], ["o", 5], ["o", 6], ["o", 1], ["o", 2]], "1 2 3 4 5"],
    // A new counter starts at its base (ms since 2025): a wide settle is immediate.
    ["wide settle", 0, [["o", 40000000002], ["o", 40000000001], ["s", 40000000000]], "40000000001 40000000002"],
    ["wide settle in order", 0, [["o", 40000000009], ["o", 40000000005], ["s", 40000000007]], "40000000005"],
  ];
  for (const [name, start, steps, want] of cases) {
    const s = new Sequencer(3, start);
    const out = [];
    for (const [op, n] of steps) {
      if (op === "o") s.offer({ seq: n }, out, false);
      else if (op === "s") s.settle(n, out);
      else s.discontinuity(n, out);
    }
    const got = out.map((e) => (e.type === "message" ? String(e.message.seq) : `d${e.discontinuity.from}-${e.discontinuity.to}`)).join(" ");
    assert.equal(got, want, name);
  }
  assert.ok(new MemoryStore());
});

// jwtFor: a token of the shape the client reads (sub, exp), living ms.
const jwtFor = (user, ms) => {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${b64({ alg: "ES256" })}.${b64({ sub: user, exp: Math.floor((Date.now() + ms) / 1000) })}.sig`;
};

async function renewalRun(faults, ttl, runMs) {
  let result;
  await withServer(faults, async (srv, connect) => {
    let minted = 0;
    const c = await connect("", { token: async () => { minted++; return jwtFor("ann", ttl); } });
    const s = await c.join("general");
    const events = [];
    s.on((e) => events.push(e));
    const acked = [];
    for (const end = Date.now() + runMs; Date.now() < end;) {
      acked.push(srv.post("general", "tick"));
      await new Promise((r) => setTimeout(r, 20));
    }
    await until(() => check(events, acked).lost === 0);
    result = { v: check(events, acked), stats: c.stats(), counts: { ...srv.counts }, minted };
  });
  return result;
}

test("renewal: the token is renewed in-band before expiry, without a reconnect, nothing lost or repeated", async () => {
  const { v, stats, counts, minted } = await renewalRun({}, 3000, 4500);
  console.log(`FIGURES sdk-js renewal: deliveries=${v.deliveries} lost=${v.lost} duplicated=${v.duplicated} out_of_order=${v.outOfOrder} renewals=${stats.renewals} reconnects=${stats.reconnects} server_expired=${counts.expired} tokens=${minted}`);
  assert.equal(v.lost + v.duplicated + v.outOfOrder, 0);
  assert.ok(v.deliveries > 0);
  assert.ok(stats.renewals >= 2, `renewals ${stats.renewals}`);
  assert.equal(counts.reauths, stats.renewals);
  assert.equal(stats.reconnects, 0);
  assert.equal(counts.expired, 0);
  // Control: renewals refused, the server cuts the connection at each expiry.
  const ctl = await renewalRun({ refuseReauth: true }, 3000, 4500);
  assert.ok(ctl.counts.expired > 0 && ctl.stats.reconnects > 0 && ctl.stats.renewals === 0, JSON.stringify(ctl));
  assert.equal(ctl.v.lost + ctl.v.duplicated, 0);
});

test("openDirect joins the channel the server names; the other user hears of it; a removal ends the subscription", async () => {
  await withServer({}, async (srv, connect) => {
    const bob = await connect("bob");
    const heard = [];
    bob.on("direct", (d) => heard.push(d));
    const ann = await connect("ann");
    const s = await ann.openDirect("bob");
    assert.equal(s.channel, "dm-ann-bob");
    assert.equal(await ann.openDirect("bob"), s);
    await until(() => heard.length === 1);
    assert.deepEqual(heard, [{ channel: "dm-ann-bob", userId: "ann", userName: "ann", created: true }]);
    await assert.rejects(ann.openDirect("a#b"), { code: "invalid" });
    srv.removeUser("dm-ann-bob", "ann");
    await until(() => s.ended);
    assert.equal(s.err.code, "removed");
    srv.dropAll();
    await until(() => ann.stats().reconnects > 0 && ann.state === State.Connected);
    assert.equal(ann.subs.has("dm-ann-bob"), false);
  });
});

test("directChannel: the wire contract's names, the same from both sides", async () => {
  const { directChannel } = await import("./wschat.js");
  // The vectors of wire/authz_test.go.
  assert.equal(await directChannel("ann", "bob"), "dm-b6owpid5zvwnmtgm2bwf4k3gk7gxciym");
  assert.equal(await directChannel("bob", "ann"), "dm-b6owpid5zvwnmtgm2bwf4k3gk7gxciym");
  assert.equal(await directChannel("👍", "ｱ"), "dm-jmkiqn2qka2aqj2mht5y5mj36zbs7jbl");
});
// The message-state model: the same folding rules as the Go client's
// (client/model_test.go).
test("Model folds updates by rev, keeps mine, counts unread", async () => {
  const { Model } = await import("./wschat.js");
  const m = new Model(100);
  m.me = "me";
  const msg = (seq, userId, text, extra = {}) => ({ seq, rev: seq, userId, text, reactions: [], replies: 0, deleted: false, ...extra });
  const upd = (seq, action, userId, emoji, state) => ({ type: "update", update: { seq, action, target: state.seq, userId, emoji, state } });
  m.fold({ type: "message", message: msg(1, "ann", "hi") });
  m.fold(upd(2, "edit", "ann", undefined, msg(1, "ann", "hello", { rev: 2, edited: true })));
  m.fold(upd(3, "react", "me", "👍", msg(1, "ann", "hello", { rev: 3, reactions: [{ emoji: "👍", count: 1 }] })));
  m.fold(upd(4, "react", "bo", "👍", msg(1, "ann", "hello", { rev: 4, reactions: [{ emoji: "👍", count: 2 }] })));
  m.fold(upd(2, "edit", "ann", undefined, msg(1, "ann", "stale", { rev: 2 }))); // lower rev: ignored
  assert.deepEqual(m.message(1).reactions, [{ emoji: "👍", count: 2, mine: true }]);
  assert.equal(m.message(1).text, "hello");
  m.fold(upd(5, "delete", "ann", undefined, msg(1, "ann", "", { rev: 5, deleted: true })));
  assert.equal(m.message(1).deleted, true);
  assert.deepEqual(m.message(1).reactions, []);
  m.fold({ type: "message", message: msg(6, "bo", "q") });
  m.fold({ type: "message", message: msg(7, "ann", "a", { replyTo: 6 }), parent: msg(6, "bo", "q", { rev: 7, replies: 1 }) });
  assert.equal(m.message(6).replies, 1);
  m.fold({ type: "message", message: msg(8, "me", "mine") });
  assert.equal(m.unread(), 2);
  m.fold({ type: "read", read: { userId: "me", seq: 6 } });
  m.fold({ type: "read", read: { userId: "me", seq: 2 } });
  assert.equal(m.unread(), 1);
  m.fold({ type: "typing", typing: { userId: "bo", userName: "Bo", until: Date.now() + 1000 } });
  m.fold({ type: "typing", typing: { userId: "me", userName: "Me", until: Date.now() + 1000 } });
  assert.deepEqual(m.typing().map((t) => t.userId), ["bo"]);
  assert.deepEqual(m.typing(Date.now() + 2000), []);
  // A message sent before the typing signal (a catch-up delivers it late)
  // does not end it; a newer one does.
  const at = Date.now();
  m.fold({ type: "typing", typing: { userId: "bo", userName: "Bo", until: at + 3000 }, since: at });
  m.fold({ type: "message", message: msg(20, "bo", "sent before", { sentAt: new Date(at - 1000).toISOString() }) });
  assert.deepEqual(m.typing(at).map((t) => t.userId), ["bo"]);
  m.fold({ type: "message", message: msg(21, "bo", "sent after", { sentAt: new Date(at + 1000).toISOString() }) });
  assert.deepEqual(m.typing(at), []);
  // A personal (history) state brings "mine" for reactions made before.
  m.fold({ type: "message", personal: true, message: msg(9, "ann", "x", { rev: 12, reactions: [{ emoji: "🎉", count: 3, mine: true }] }) });
  m.fold(upd(13, "react", "bo", "❤️", msg(9, "ann", "x", { rev: 13, reactions: [{ emoji: "🎉", count: 3 }, { emoji: "❤️", count: 1 }] })));
  assert.deepEqual(m.message(9).reactions, [{ emoji: "🎉", count: 3, mine: true }, { emoji: "❤️", count: 1, mine: false }]);
});

test("Sequencer orders updates with messages", () => {
  const s = new Sequencer(10, 0);
  const out = [];
  s.offerEvent({ type: "update", update: { seq: 2 } }, out, false);
  s.offer({ seq: 1 }, out, false);
  s.offerEvent({ type: "update", update: { seq: 4 } }, out, false);
  s.settle(4, out);
  assert.deepEqual(out.map((e) => `${e.type}:${e.type === "update" ? e.update.seq : e.message.seq}`), ["message:1", "update:2", "update:4"]);
});

test("lifecycle calls check their arguments before sending", async () => {
  await withServer({}, async (srv, connect) => {
    const c = await connect("ann");
    await c.join("general");
    for (const bad of ["", "a", "👍👍", ":Tada:", "👍 "]) {
      assert.throws(() => c.react("general", 1, bad), (e) => e.code === "invalid", `emoji ${JSON.stringify(bad)}`);
    }
    for (const good of ["👍", "👍🏽", "🏳️‍🌈", "🇫🇷", ":tada:", "#️⃣"]) assert.doesNotThrow(() => c.react("general", 1, good).catch(() => {}));
    assert.throws(() => c.edit("general", 0, "x"), (e) => e.code === "invalid");
    assert.throws(() => c.reply("general", 1, "  "), (e) => e.code === "invalid");
    assert.rejects(c.delete("random", 1), (e) => e.code === "not_joined");
  });
});
