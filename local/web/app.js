// wschat local chat page: a view of the JavaScript client, served by the
// emulator at /client/wschat.js (client/js/wschat.js, docs/client.md).
//
// Everything of the protocol is the module's: the token for each connection
// attempt, reconnects with backoff, keep-alive, handover before the 2-hour
// limit, the outbox and its retries, dedupe and ordering by seq, history
// catch-up. This script signs in, renders what the module delivers, and
// keeps the page's own state across a reload: who is signed in and which
// channels are open (sessionStorage: per tab), and the transcript shown
// (localStorage, beside the module's outbox and last seqs, which the
// module keeps there through LocalStorageStore).
import { dial, LocalStorageStore } from "/client/wschat.js";

const $ = (id) => document.getElementById(id);
const transcriptMax = 500;

// page is exposed as window.wschatPage for local/browser_test.go.
const page = {
  cfg: null,
  user: "",
  client: null,
  channels: new Map(), // name -> { name, sub, items, members, unread }
  current: "",
  acks: {}, // clientId -> acks this page load saw (the test counts them)
  states: [], // "to: reason" of every state change this page load saw
  hooks: { dropAcks: false, dropSends: false, dropped: 0 },
};
window.wschatPage = page;

// PageWebSocket is the browser's WebSocket with two test hooks for
// local/browser_test.go, each a fault a real network can cause:
//   - hooks.dropAcks drops inbound "ack" frames, as if the connection had
//     failed after the server stored a message and before its ack arrived;
//   - hooks.dropSends drops outbound "send" frames, as if the connection
//     had failed before the server saw the message.
// The flags live in memory, so a reload clears them: that is how the test
// leaves an unacknowledged message in the stored outbox across a reload.
class PageWebSocket extends WebSocket {
  get onmessage() { return super.onmessage; }
  set onmessage(fn) {
    super.onmessage = fn && ((ev) => {
      if (page.hooks.dropAcks && frameType(ev.data, "type") === "ack") {
        page.hooks.dropped++;
        return;
      }
      fn(ev);
    });
  }
  send(data) {
    if (page.hooks.dropSends && frameType(data, "action") === "send") {
      page.hooks.dropped++;
      return;
    }
    super.send(data);
  }
}

function frameType(data, key) {
  try {
    return JSON.parse(data)[key];
  } catch {
    return undefined;
  }
}

const transcriptKey = (name) => `wschat-page:${page.user}:transcript:${name}`;

function loadJSON(storage, key, fallback) {
  try {
    const v = storage.getItem(key);
    return v === null ? fallback : JSON.parse(v);
  } catch {
    return fallback;
  }
}

function channel(name) {
  let ch = page.channels.get(name);
  if (!ch) {
    ch = { name, sub: null, items: loadJSON(localStorage, transcriptKey(name), []), members: new Map(), unread: 0 };
    page.channels.set(name, ch);
  }
  return ch;
}

function saveChannels() {
  sessionStorage.setItem("wschat.channels", JSON.stringify({ open: [...page.channels.keys()], current: page.current }));
}

function showError(msg) {
  $("error").textContent = msg || "";
}

function errText(e) {
  return (e && e.code ? e.code + ": " : "") + String((e && e.message) || e);
}

function onState(s) {
  page.states.push(s.to + ": " + s.reason);
  $("status").dataset.state = s.to;
  $("status").textContent = s.to;
  $("status").title = s.reason + (s.err ? " (" + s.err.message + ")" : "");
  // A failed attempt keeps the state (connecting or reconnecting) and says why.
  if (s.err) showError(errText(s.err));
  else if (s.to === "connected") showError("");
  // After a reconnect or handover the member list may have changed unseen.
  if (s.to === "connected" && page.client) for (const ch of page.channels.values()) if (ch.sub) refreshMembers(ch);
}

async function token() {
  const resp = await fetch(page.cfg.tokenUrl, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user: page.user }),
  });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(body.message || body.error || "sign-in failed: " + resp.status);
  return body.token;
}

// signIn dials, then opens the channels this tab had open (after a reload).
async function signIn(user, open, current) {
  page.user = user;
  sessionStorage.setItem("wschat.user", user);
  $("signin-view").hidden = true;
  $("chat-view").hidden = false;
  $("signout").hidden = false;
  $("status").dataset.state = "connecting";
  $("status").textContent = "connecting";
  try {
    page.client = await dial(page.cfg.webSocketUrl, {
      token,
      onState,
      WebSocket: PageWebSocket,
      // Per user: two tabs of one browser share localStorage.
      store: new LocalStorageStore(localStorage, `wschat:${user}:`),
    });
  } catch (e) {
    showError(errText(e));
    return;
  }
  page.client.on("ack", (entry) => { page.acks[entry.clientId] = (page.acks[entry.clientId] || 0) + 1; render(); });
  page.client.on("failed", (entry, err) => { showError("not sent: " + entry.text + ": " + errText(err)); render(); });
  for (const name of open) await openChannel(name);
  if (current && page.channels.has(current)) page.current = current;
  render();
}

async function openChannel(name) {
  const ch = channel(name);
  page.current = name;
  saveChannels();
  render();
  let sub;
  try {
    // A channel this page never showed starts with its whole history; one
    // it showed resumes after the last seq the module stored.
    sub = await page.client.join(name, ch.items.length ? {} : { from: 0 });
  } catch (e) {
    showError(errText(e));
    return;
  }
  ch.sub = sub;
  sub.on((ev) => onEvent(ch, ev));
  refreshMembers(ch);
}

function onEvent(ch, ev) {
  switch (ev.type) {
    case "message": {
      const m = ev.message;
      // Who sent it is from and userId; userName is only what people read.
      ch.items.push({ kind: "msg", seq: m.seq, who: m.userName || m.userId, userId: m.userId, from: m.from, text: m.text, clientId: m.clientId });
      if (ch.name !== page.current) ch.unread++;
      break;
    }
    case "joined":
      ch.members.set(ev.presence.userId, ev.presence.userName);
      ch.items.push({ kind: "presence", text: ev.presence.userName + " joined" });
      break;
    case "left":
      ch.members.delete(ev.presence.userId);
      ch.items.push({ kind: "presence", text: ev.presence.userName + " left" });
      break;
    case "discontinuity":
      ch.items.push({ kind: "gap", text: `messages ${ev.discontinuity.from}–${ev.discontinuity.to} are past the history retention` });
      break;
  }
  if (ch.items.length > transcriptMax) ch.items.splice(0, ch.items.length - transcriptMax);
  // Saved in the same task in which the module stored its last seq, so a
  // reload neither repeats nor misses a message.
  localStorage.setItem(transcriptKey(ch.name), JSON.stringify(ch.items));
  render();
}

async function refreshMembers(ch) {
  const all = new Map();
  try {
    let cursor = "";
    do {
      const p = await page.client.members(ch.name, cursor);
      for (const m of p.members) all.set(m.userId, m.userName);
      cursor = p.next;
    } while (cursor);
  } catch (e) {
    showError(errText(e));
    return;
  }
  ch.members = all;
  render();
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function renderChannels() {
  const list = $("channels");
  list.replaceChildren();
  for (const ch of page.channels.values()) {
    const li = el("li", ch.name === page.current ? "active" : "", "#" + ch.name);
    li.dataset.channel = ch.name;
    if (ch.unread) li.append(el("span", "unread", String(ch.unread)));
    li.onclick = () => { page.current = ch.name; ch.unread = 0; saveChannels(); render(); };
    list.append(li);
  }
}

// senders maps each display name (folded) to the user ids seen with it in
// a channel, in its messages and among its members. A name that several
// ids share is shown with the id, so no one passes as someone else.
function senders(ch) {
  const ids = new Map();
  const see = (name, id) => {
    if (!name || !id) return;
    const k = name.normalize("NFKC").toLowerCase();
    if (!ids.has(k)) ids.set(k, new Set());
    ids.get(k).add(id);
  };
  for (const it of ch.items) if (it.kind === "msg" && it.from !== "server") see(it.who, it.userId);
  for (const [id, name] of ch.members) see(name, id);
  return ids;
}

// whoOf is the name to show for a user: the name, with the user id when
// another user shares the name.
function whoOf(ids, name, id) {
  const k = (name || "").normalize("NFKC").toLowerCase();
  return id && ids.has(k) && ids.get(k).size > 1 ? `${name} (${id})` : name;
}

// renderMessages shows the stream as delivered (messages in seq order,
// presence where it happened), then what is still in the outbox. A
// backend's message (from "server") is marked as one: a user may be named
// like a backend, never marked like one.
function renderMessages(ch, pending) {

  const msgs = $("messages");
  const atBottom = msgs.scrollTop + msgs.clientHeight >= msgs.scrollHeight - 4;
  msgs.replaceChildren();
  const unacked = new Set(pending.map((p) => p.clientId));
  const shown = new Set();
  const ids = senders(ch);
  for (const it of ch.items) {
    if (it.kind !== "msg") {
      msgs.append(el("li", it.kind, it.text));
      continue;
    }
    const li = el("li", unacked.has(it.clientId) ? "msg unacked" : "msg");
    li.dataset.seq = it.seq;
    li.dataset.clientId = it.clientId || "";
    const backend = it.from === "server";
    const who = el("span", "who", backend ? it.who : whoOf(ids, it.who, it.userId));
    if (it.userId) who.title = backend ? "published by a backend" : "user " + it.userId;
    li.append(el("span", "seq", "#" + it.seq));
    if (backend) {
      li.classList.add("backend");
      li.append(el("span", "badge", "backend"));
    }
    li.append(who, el("span", "text", it.text));
    msgs.append(li);

    shown.add(it.clientId);
  }
  // A message the server stored and delivered but whose ack is still out
  // is shown once: where the stream put it.
  for (const p of pending) {
    if (shown.has(p.clientId)) continue;
    const li = el("li", "msg pending");
    li.dataset.clientId = p.clientId;
    li.append(el("span", "who", page.user), el("span", "text", p.text));
    msgs.append(li);
  }
  if (atBottom) msgs.scrollTop = msgs.scrollHeight;
}

function render() {
  renderChannels();
  const pending = page.client ? page.client.pending() : [];
  $("outbox").dataset.count = pending.length;
  $("outbox").textContent = pending.length ? pending.length + " unsent" : "";
  const ch = page.channels.get(page.current);
  $("current").textContent = ch ? "#" + ch.name : "no channel";
  const members = $("members");
  members.replaceChildren();
  if (!ch) {
    $("messages").replaceChildren();
    return;
  }
  const ids = senders(ch);
  for (const [id, name] of ch.members) {
    const li = el("li", "", whoOf(ids, name, id));
    li.dataset.user = id;
    li.title = "user " + id;
    members.append(li);
  }
  renderMessages(ch, pending.filter((p) => p.channel === ch.name));
}

$("signin-form").onsubmit = (ev) => {
  ev.preventDefault();
  const user = $("user").value.trim();
  if (user) signIn(user, [], "");
};

$("join-form").onsubmit = (ev) => {
  ev.preventDefault();
  const name = $("channel").value.trim().toLowerCase();
  if (!name || !page.client) return;
  if (page.channels.get(name)?.sub) {
    page.current = name;
    render();
    return;
  }
  openChannel(name);
};

$("send-form").onsubmit = (ev) => {
  ev.preventDefault();
  const ch = page.channels.get(page.current);
  const text = $("text").value;
  if (!ch || !text || !page.client) return;
  let sent;
  try {
    sent = page.client.send(ch.name, text);
  } catch (e) {
    showError(errText(e)); // invalid or too long: checked before sending
    return;
  }
  $("text").value = "";
  sent.then(() => render(), (e) => { if (e.code !== "closed") showError(errText(e)); render(); });
  render();
};

$("leave").onclick = async () => {
  const ch = page.channels.get(page.current);
  if (!ch) return;
  page.channels.delete(ch.name);
  localStorage.removeItem(transcriptKey(ch.name));
  page.current = page.channels.keys().next().value || "";
  saveChannels();
  render();
  if (ch.sub) await ch.sub.leave().catch((e) => showError(errText(e)));
};

// Sign out closes the client; the outbox stays stored for the next sign-in.
$("signout").onclick = () => {
  if (page.client) page.client.close();
  sessionStorage.removeItem("wschat.user");
  sessionStorage.removeItem("wschat.channels");
  location.reload();
};

(async () => {
  page.cfg = await (await fetch("/local/config.json")).json();
  $("env").textContent = page.cfg.environment + " · " + page.cfg.webSocketUrl;
  const user = sessionStorage.getItem("wschat.user");
  if (!user) return;
  $("user").value = user;
  const saved = loadJSON(sessionStorage, "wschat.channels", { open: [], current: "" });
  await signIn(user, saved.open || [], saved.current || "");
})();
