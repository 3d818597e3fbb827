// wschat local chat page: a view of the JavaScript client, served by the
// emulator at /client/wschat.js (client/js/wschat.js, docs/client.md).
//
// Everything of the protocol is the module's: the token for each connection
// attempt, reconnects with backoff, keep-alive, handover before the 2-hour
// limit, the outbox and its retries, dedupe and ordering by seq, history
// catch-up, and each channel's message-state model (current text, edited,
// deleted, reactions with "mine", reply counts), typing and read state.
// This script signs in, renders what the module holds, and keeps only the
// page's own state: who is signed in and which channels are open
// (sessionStorage: per tab). The module keeps its outbox in localStorage
// (LocalStorageStore), so an unsent message survives a reload; every
// channel is joined from its first retained message, so the page shows
// each message's current state after a reload too.
import { dial, LocalStorageStore } from "/client/wschat.js";

const $ = (id) => document.getElementById(id);
const reactionChoices = ["👍", "🎉", "❤️", "😂"];

// page is exposed as window.wschatPage for local/browser_test.go.
const page = {
  cfg: null,
  user: "",
  client: null,
  channels: new Map(), // name -> { name, sub, presence, members, server }
  current: "",
  editing: 0, // seq of the own message being edited, 0 when composing
  thread: 0, // seq of the message whose thread is open
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

function channel(name) {
  let ch = page.channels.get(name);
  if (!ch) {
    ch = { name, sub: null, presence: [], members: new Map(), server: null };
    page.channels.set(name, ch);
  }
  return ch;
}

function saveChannels() {
  const open = [...page.channels.values()].filter((c) => c.sub || c.opening).map((c) => c.name);
  sessionStorage.setItem("wschat.channels", JSON.stringify({ open, current: page.current }));
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

// signIn dials, lists the user's channels (from every device), then opens
// the channels this tab had open (after a reload).
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
  page.client.on("failed", (entry, err) => { showError("not done: " + (entry.text || "") + ": " + errText(err)); render(); });
  await refreshChannelList();
  for (const name of open) await openChannel(name);
  if (current && page.channels.get(current)?.sub) page.current = current;
  saveChannels();
  render();
}

// refreshChannelList reads the user's channels with the server's unread
// counts: the sidebar of channels not open in this tab.
async function refreshChannelList() {
  try {
    for (const info of await page.client.channels()) channel(info.channel).server = info;
  } catch (e) {
    showError(errText(e));
  }
  render();
}

async function openChannel(name) {
  const ch = channel(name);
  page.current = name;
  page.thread = 0;
  ch.opening = true;
  saveChannels();
  render();
  let sub;
  try {
    // From the first retained message: the model then holds every
    // message's current state, and the unread count is exact.
    sub = await page.client.join(name, { from: 0 });
  } catch (e) {
    ch.opening = false;
    showError(errText(e));
    return;
  }
  ch.sub = sub;
  ch.opening = false;
  sub.on((ev) => onEvent(ch, ev));
  refreshMembers(ch);
  markRead(ch);
}

function onEvent(ch, ev) {
  switch (ev.type) {
    case "joined":
      ch.members.set(ev.presence.userId, ev.presence.userName);
      ch.presence.push({ anchor: ch.sub ? ch.sub.last : 0, text: ev.presence.userName + " joined" });
      break;
    case "left":
      ch.members.delete(ev.presence.userId);
      ch.presence.push({ anchor: ch.sub ? ch.sub.last : 0, text: ev.presence.userName + " left" });
      break;
    case "discontinuity":
      ch.presence.push({ anchor: ev.discontinuity.from - 1, gap: true, text: `messages ${ev.discontinuity.from}–${ev.discontinuity.to} are past the history retention` });
      break;
    case "message": case "update":
      markRead(ch);
      break;
    case "moderation":
      ch.presence.push({ anchor: ev.moderation.seq, text: moderationText(ev.moderation) });
      break;
    default: break; // typing (also when it expires) and read: the model has them
  }
  if (ch.presence.length > 200) ch.presence.splice(0, ch.presence.length - 200);
  render();
}

// moderationText says what a moderation event did, as the page shows it
// among the joins and leaves.
function moderationText(m) {
  const who = m.userName || m.userId;
  const what = {
    mute: `muted ${who}` + (m.until ? ` until ${new Date(m.until).toLocaleTimeString()}` : ""),
    unmute: `unmuted ${who}`, ban: `banned ${who}`, unban: `unbanned ${who}`, role: `made ${who} ${m.role}`,
  }[m.op] || `${m.op} ${who}`;
  return `${m.byName} ${what}` + (m.reason ? ` (${m.reason})` : "");
}

// markRead records the read state of the channel being looked at: a
// channel in view has nothing unread, on every device. The module
// coalesces the calls.
function markRead(ch) {
  if (ch.name !== page.current || !ch.sub || document.hidden) return;
  if (ch.sub.last > ch.sub.lastRead) page.client.markRead(ch.name, ch.sub.last).then(render, (e) => showError(errText(e)));
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

function button(cls, text, fn, title) {
  const b = el("button", cls, text);
  b.type = "button";
  if (title) b.title = title;
  b.onclick = (ev) => { ev.stopPropagation(); fn(); };
  return b;
}

// act runs one lifecycle call of the module, showing a refusal.
function act(p) {
  p.then(render, (e) => { if (e.code !== "closed") showError(errText(e)); render(); });
}

function unreadOf(ch) {
  if (ch.sub) return { n: ch.sub.unread(), more: false };
  return ch.server ? { n: ch.server.unread, more: ch.server.unreadMore } : { n: 0, more: false };
}

function renderChannels() {
  const list = $("channels");
  list.replaceChildren();
  for (const ch of [...page.channels.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const li = el("li", ch.name === page.current ? "active" : "", "#" + ch.name);
    li.dataset.channel = ch.name;
    const u = unreadOf(ch);
    if (u.n && ch.name !== page.current) li.append(el("span", "unread", u.n + (u.more ? "+" : "")));
    li.onclick = () => {
      if (ch.sub) {
        page.current = ch.name;
        page.thread = 0;
        saveChannels();
        markRead(ch);
        render();
      } else openChannel(ch.name);
    };
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
  for (const m of ch.sub ? ch.sub.messages() : []) if (m.from !== "server") see(m.userName || m.userId, m.userId);
  for (const [id, name] of ch.members) see(name, id);
  return ids;
}

// whoOf is the name to show for a user: the name, with the user id when
// another user shares the name.
function whoOf(ids, name, id) {
  const k = (name || "").normalize("NFKC").toLowerCase();
  return id && ids.has(k) && ids.get(k).size > 1 ? `${name} (${id})` : name;
}

// messageItem renders one message in its current state, with what the
// user may do to it.
function messageItem(ch, m, unacked, ids) {
  const li = el("li", "msg" + (unacked.has(m.clientId) ? " unacked" : "") + (m.deleted ? " deleted" : ""));
  li.dataset.seq = m.seq;
  li.dataset.clientId = m.clientId || "";
  // Who sent it is from and userId; userName is only what people read. A
  // backend's message (from "server") is marked as one: a user may be named
  // like a backend, never marked like one.
  const backend = m.from === "server";
  const name = m.userName || m.userId;
  const who = el("span", "who", backend ? name : whoOf(ids, name, m.userId));
  if (m.userId) who.title = backend ? "published by a backend" : "user " + m.userId;
  li.append(el("span", "seq", "#" + m.seq));
  if (backend) {
    li.classList.add("backend");
    li.append(el("span", "badge", "backend"));
  }
  li.append(who, el("span", "text", m.deleted ? "" : m.text));
  if (m.deleted) li.append(el("span", "note", "message deleted"));
  else if (m.edited) li.append(el("span", "note edited", "(edited)"));
  if (!m.deleted) {
    const rx = el("span", "reactions");
    for (const r of m.reactions) {
      const b = button("reaction" + (r.mine ? " mine" : ""), `${r.emoji} ${r.count}`,
        () => act(r.mine ? page.client.unreact(ch.name, m.seq, r.emoji) : page.client.react(ch.name, m.seq, r.emoji)));
      b.dataset.emoji = r.emoji;
      rx.append(b);
    }
    for (const e of reactionChoices) {
      if (!m.reactions.some((r) => r.emoji === e)) {
        const b = button("react", "+" + e, () => act(page.client.react(ch.name, m.seq, e)), "react with " + e);
        b.dataset.emoji = e;
        rx.append(b);
      }
    }
    li.append(rx);
  }
  const tools = el("span", "tools");
  if (!m.replyTo) {
    tools.append(button("replies", m.replies ? `${m.replies} ${m.replies === 1 ? "reply" : "replies"}` : "reply",
      () => openThread(ch, m.seq)));
  }
  if (m.userId === page.client.userId && !m.deleted) {
    tools.append(button("edit", "edit", () => startEdit(m)), button("delete", "delete", () => act(page.client.delete(ch.name, m.seq))));
  }
  li.append(tools);
  return li;
}

// renderMessages shows the channel's top-level messages in their current
// state (replies are in their thread), presence where it happened, then
// what is still in the outbox.
function renderMessages(ch, pending) {

  const msgs = $("messages");
  const atBottom = msgs.scrollTop + msgs.clientHeight >= msgs.scrollHeight - 4;
  msgs.replaceChildren();
  const unacked = new Set(pending.map((p) => p.clientId));
  const shown = new Set();
  const all = ch.sub ? ch.sub.messages() : [];
  const ids = senders(ch);
  let p = 0;
  for (const m of all) {
    for (; p < ch.presence.length && ch.presence[p].anchor < m.seq; p++) msgs.append(el("li", ch.presence[p].gap ? "gap" : "presence", ch.presence[p].text));
    shown.add(m.clientId);
    if (!m.replyTo) msgs.append(messageItem(ch, m, unacked, ids));
  }
  for (; p < ch.presence.length; p++) msgs.append(el("li", ch.presence[p].gap ? "gap" : "presence", ch.presence[p].text));
  // A message the server stored and delivered but whose ack is still out
  // is shown once: where the stream put it.
  for (const q of pending) {
    if (shown.has(q.clientId) || q.replyTo) continue;
    const li = el("li", "msg pending");
    li.dataset.clientId = q.clientId;
    li.append(el("span", "who", page.user), el("span", "text", q.text));
    msgs.append(li);
  }
  if (atBottom) msgs.scrollTop = msgs.scrollHeight;
}

async function openThread(ch, seq) {
  page.thread = seq;
  render();
  try {
    // The server's page of the thread (the stream then keeps it current).
    const t = await page.client.thread(ch.name, seq);
    ch.threadFetched = { parent: seq, replies: t.replies };
  } catch (e) {
    showError(errText(e));
  }
  render();
}

function renderThread(ch, pending) {
  const view = $("thread");
  const list = $("thread-messages");
  list.replaceChildren();
  view.hidden = !page.thread || !ch.sub;
  if (view.hidden) return;
  const parent = ch.sub.message(page.thread);
  const unacked = new Set(pending.map((q) => q.clientId));
  if (parent) list.append(messageItem(ch, parent, unacked, senders(ch)));
  const replies = new Map();
  for (const r of (ch.threadFetched && ch.threadFetched.parent === page.thread ? ch.threadFetched.replies : [])) replies.set(r.seq, r);
  for (const m of ch.sub.messages()) if (m.replyTo === page.thread) replies.set(m.seq, m);
  for (const seq of [...replies.keys()].sort((a, b) => a - b)) {
    const li = messageItem(ch, ch.sub.message(seq) || replies.get(seq), unacked, senders(ch));
    li.classList.add("reply");
    list.append(li);
  }
  for (const q of pending) {
    if (q.replyTo !== page.thread || [...replies.values()].some((r) => r.clientId === q.clientId)) continue;
    const li = el("li", "msg pending reply");
    li.append(el("span", "who", page.user), el("span", "text", q.text));
    list.append(li);
  }
}

function renderTyping(ch) {
  const who = ch && ch.sub ? ch.sub.typing().map((t) => t.userName) : [];
  $("typing").textContent = who.length ? `${who.join(", ")} ${who.length === 1 ? "is" : "are"} typing…` : "";
}

function startEdit(m) {
  page.editing = m.seq;
  $("text").value = m.text;
  $("text").focus();
  render();
}

function render() {
  renderChannels();
  const pending = page.client ? page.client.pending() : [];
  $("outbox").dataset.count = pending.length;
  $("outbox").textContent = pending.length ? pending.length + " unsent" : "";
  const ch = page.channels.get(page.current);
  $("current").textContent = ch ? "#" + ch.name : "no channel";
  $("editing").textContent = page.editing ? `editing #${page.editing} (Esc to cancel)` : "";
  const members = $("members");
  members.replaceChildren();
  renderTyping(ch);
  if (!ch) {
    $("messages").replaceChildren();
    $("thread-messages").replaceChildren();
    $("thread").hidden = true;
    return;
  }
  const ids = senders(ch);
  for (const [id, name] of ch.members) {
    const li = el("li", "", whoOf(ids, name, id));
    li.dataset.user = id;
    li.title = "user " + id;
    members.append(li);
  }
  const mine = pending.filter((q) => q.channel === ch.name);
  renderMessages(ch, mine);
  renderThread(ch, mine);
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

// The composer sends, or edits the message being edited.
$("send-form").onsubmit = (ev) => {
  ev.preventDefault();
  const ch = page.channels.get(page.current);
  const text = $("text").value;
  if (!ch || !text || !page.client) return;
  let done;
  try {
    done = page.editing ? page.client.edit(ch.name, page.editing, text) : page.client.send(ch.name, text);
  } catch (e) {
    showError(errText(e)); // invalid or too long: checked before sending
    return;
  }
  page.editing = 0;
  $("text").value = "";
  act(done);
  render();
};

$("text").oninput = () => {
  if (page.client && page.current && $("text").value) page.client.typing(page.current);
};
$("text").onkeydown = (ev) => {
  if (ev.key === "Escape" && page.editing) {
    page.editing = 0;
    $("text").value = "";
    render();
  }
};

$("reply-form").onsubmit = (ev) => {
  ev.preventDefault();
  const ch = page.channels.get(page.current);
  const text = $("reply-text").value;
  if (!ch || !text || !page.thread) return;
  try {
    act(page.client.reply(ch.name, page.thread, text));
  } catch (e) {
    showError(errText(e));
    return;
  }
  $("reply-text").value = "";
  render();
};
$("reply-text").oninput = () => {
  if (page.client && page.current && $("reply-text").value) page.client.typing(page.current);
};
$("close-thread").onclick = () => { page.thread = 0; render(); };

$("leave").onclick = async () => {
  const ch = page.channels.get(page.current);
  if (!ch) return;
  page.channels.delete(ch.name);
  page.current = [...page.channels.values()].find((c) => c.sub)?.name || "";
  page.thread = 0;
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

document.addEventListener("visibilitychange", () => { const ch = page.channels.get(page.current); if (ch) markRead(ch); });

(async () => {
  page.cfg = await (await fetch("/local/config.json")).json();
  $("env").textContent = page.cfg.environment + " · " + page.cfg.webSocketUrl;
  const user = sessionStorage.getItem("wschat.user");
  if (!user) return;
  $("user").value = user;
  const saved = JSON.parse(sessionStorage.getItem("wschat.channels") || '{"open":[],"current":""}');
  await signIn(user, saved.open || [], saved.current || "");
})();
