// wschat local chat page: signs in at the emulator's local issuer, connects
// with the token in the subprotocol list (as browsers must), joins channels,
// and after a dropped connection reconnects, joins again and asks for
// history {after: lastSeq} to recover what it missed. Protocol: docs/protocol.md.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  cfg: null,
  user: "",
  ws: null,
  retry: 0,
  signedOut: true,
  channels: new Map(), // name -> channel
  current: "",
};

function channel(name) {
  let ch = state.channels.get(name);
  if (!ch) {
    ch = { name, items: new Map(), lastSeq: 0, members: new Map(), pending: new Map(), awaitingJoin: false, unread: 0 };
    state.channels.set(name, ch);
  }
  return ch;
}

function setStatus(s, text) {
  $("status").dataset.state = s;
  $("status").textContent = text || s;
}

function showError(msg) {
  $("error").textContent = msg || "";
}

function send(obj) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) {
    state.ws.send(JSON.stringify(obj));
    return true;
  }
  return false;
}

async function token() {
  const resp = await fetch(state.cfg.tokenUrl, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user: state.user }),
  });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(body.message || body.error || "sign-in failed: " + resp.status);
  return body.token;
}

async function connect() {
  if (state.signedOut) return;
  let tok;
  try {
    tok = await token();
  } catch (e) {
    showError(String(e.message || e));
    return scheduleReconnect();
  }
  const ws = new WebSocket(state.cfg.webSocketUrl, ["wschat.v1", tok]);
  state.ws = ws;
  ws.onopen = () => {
    state.retry = 0;
    setStatus("connected");
    showError("");
    // A new connection has no memberships: join every channel again. History
    // is asked for once our own "joined" arrives (see onEvent).
    for (const ch of state.channels.values()) {
      ch.awaitingJoin = true;
      send({ action: "join", channel: ch.name });
    }
  };
  ws.onmessage = (ev) => {
    let msg;
    try { msg = JSON.parse(ev.data); } catch { return; }
    onEvent(msg);
  };
  ws.onclose = (ev) => {
    if (state.ws !== ws) return;
    state.ws = null;
    if (state.signedOut) return;
    setStatus("reconnecting", "reconnecting (" + ev.code + ")");
    scheduleReconnect();
  };
}

function scheduleReconnect() {
  const delay = Math.min(5000, 250 * 2 ** state.retry) * (0.5 + Math.random() / 2);
  state.retry++;
  setTimeout(connect, delay);
}

function onEvent(msg) {
  if (!msg.type) {
    // API Gateway's own frames: {"message": "Internal server error", ...}
    if (msg.message) showError(msg.message + " (request " + msg.requestId + ")");
    return;
  }
  const ch = msg.channel ? channel(msg.channel) : null;
  switch (msg.type) {
    case "joined":
      ch.members.set(msg.userId, msg.userName);
      addPresence(ch, msg.userName + " joined", msg.at);
      if (msg.userId === state.user && ch.awaitingJoin) {
        ch.awaitingJoin = false;
        send({ action: "members", channel: ch.name });
        send({ action: "history", channel: ch.name, after: ch.lastSeq });
        for (const [clientId, text] of ch.pending) {
          send({ action: "send", channel: ch.name, text, clientId });
        }
      }
      break;
    case "left":
      ch.members.delete(msg.userId);
      addPresence(ch, msg.userName + " left", msg.at);
      break;
    case "message":
      addMessage(ch, msg);
      break;
    case "ack":
      ch.pending.delete(msg.clientId);
      break;
    case "history":
      for (const m of msg.messages || []) addMessage(ch, m);
      if (msg.more) send({ action: "history", channel: ch.name, after: msg.next });
      break;
    case "members":
      if (!msg.next) ch.members.clear();
      for (const m of msg.members || []) ch.members.set(m.userId, m.userName);
      if (msg.next) send({ action: "members", channel: ch.name, cursor: msg.next });
      break;
    case "error":
      showError(msg.code + ": " + msg.message);
      break;
  }
  render();
}

function addMessage(ch, m) {
  if (ch.items.has("m" + m.seq)) return;
  ch.items.set("m" + m.seq, { kind: "msg", seq: m.seq, who: m.userName || m.userId, text: m.text, at: m.sentAt });
  ch.pending.delete(m.clientId);
  if (m.seq > ch.lastSeq) ch.lastSeq = m.seq;
  if (ch.name !== state.current) ch.unread++;
}

function addPresence(ch, text, at) {
  ch.items.set("p" + ch.items.size + at, { kind: "presence", text, at });
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function render() {
  const list = $("channels");
  list.replaceChildren();
  for (const ch of state.channels.values()) {
    const li = el("li", ch.name === state.current ? "active" : "", "#" + ch.name);
    li.dataset.channel = ch.name;
    if (ch.unread) li.append(el("span", "unread", String(ch.unread)));
    li.onclick = () => { state.current = ch.name; ch.unread = 0; render(); };
    list.append(li);
  }
  const ch = state.channels.get(state.current);
  $("current").textContent = ch ? "#" + ch.name : "no channel";
  const members = $("members");
  members.replaceChildren();
  const msgs = $("messages");
  const atBottom = msgs.scrollTop + msgs.clientHeight >= msgs.scrollHeight - 4;
  msgs.replaceChildren();
  if (!ch) return;
  for (const [id, name] of ch.members) {
    const li = el("li", "", name);
    li.dataset.user = id;
    members.append(li);
  }
  const items = [...ch.items.values()].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : (a.seq || 0) - (b.seq || 0)));
  for (const it of items) {
    if (it.kind === "presence") {
      msgs.append(el("li", "presence", it.text));
      continue;
    }
    const li = el("li", "msg");
    li.dataset.seq = it.seq;
    li.append(el("span", "seq", "#" + it.seq), el("span", "who", it.who), el("span", "text", it.text));
    msgs.append(li);
  }
  for (const text of ch.pending.values()) {
    const li = el("li", "msg pending");
    li.append(el("span", "who", state.user), el("span", "text", text));
    msgs.append(li);
  }
  if (atBottom) msgs.scrollTop = msgs.scrollHeight;
}

function clientId() {
  const b = new Uint8Array(8);
  crypto.getRandomValues(b);
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

$("signin-form").onsubmit = (ev) => {
  ev.preventDefault();
  state.user = $("user").value.trim();
  state.signedOut = false;
  sessionStorage.setItem("wschat.user", state.user);
  $("signin-view").hidden = true;
  $("chat-view").hidden = false;
  setStatus("connecting");
  connect();
};

$("join-form").onsubmit = (ev) => {
  ev.preventDefault();
  const name = $("channel").value.trim().toLowerCase();
  if (!name) return;
  const ch = channel(name);
  state.current = name;
  ch.awaitingJoin = true;
  send({ action: "join", channel: name });
  render();
};

$("send-form").onsubmit = (ev) => {
  ev.preventDefault();
  const ch = state.channels.get(state.current);
  const text = $("text").value;
  if (!ch || !text) return;
  const id = clientId();
  ch.pending.set(id, text);
  send({ action: "send", channel: ch.name, text, clientId: id });
  $("text").value = "";
  render();
};

$("leave").onclick = () => {
  const ch = state.channels.get(state.current);
  if (!ch) return;
  send({ action: "leave", channel: ch.name });
  state.channels.delete(ch.name);
  state.current = state.channels.keys().next().value || "";
  render();
};

// A client message every few minutes keeps the connection under the
// 10-minute idle limit.
setInterval(() => send({ action: "ping" }), 4 * 60 * 1000);

(async () => {
  state.cfg = await (await fetch("/local/config.json")).json();
  $("env").textContent = state.cfg.environment + " · " + state.cfg.webSocketUrl;
  const saved = sessionStorage.getItem("wschat.user");
  if (saved) $("user").value = saved;
})();
