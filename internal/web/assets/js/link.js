// The link to the server: one WebSocket in the v1 schema
// (docs/protocol.md), resumed with ?since= after any disconnect, and the
// read-only API beside it. A server started with --token wants the token
// on both: the page takes it from its own address (#token=T, which never
// leaves the browser, or ?token=T) and sends it on the WebSocket URL
// (?token=, a browser cannot set headers there) and with every API
// request (Authorization: Bearer).

import { forgetBaselines, hooks, handleEvent, markDirty, note, reset, st } from "./model.js";
import { str } from "./format.js";
import { $ } from "./dom.js";

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15000;
const PING_AFTER_MS = 15000; // silence after which the page pings
const DEAD_AFTER_MS = 45000; // silence after which the link is presumed dead

const link = { ws: null, attempt: 0, timer: 0, lastMsg: 0, token: pageToken(), refused: false };

// pageToken is the token the page was opened with: #token=T, else ?token=T.
function pageToken() {
  const fromHash = new URLSearchParams(location.hash.replace(/^#/, "")).get("token");
  return fromHash || new URLSearchParams(location.search).get("token") || "";
}

// startLink opens the link and keeps it open, resuming after every loss.
export function startLink() {
  hooks.death = refreshGraveyardSoon;
  setInterval(watch, 5000);
  connect();
}

// watch presumes a link silent too long dead: it pings it, then drops it
// and resumes on a new one.
function watch() {
  const ws = link.ws;
  if (!ws || ws.readyState !== WebSocket.OPEN) return;
  const quiet = Date.now() - link.lastMsg;
  if (quiet > DEAD_AFTER_MS) {
    link.ws = null;
    try {
      ws.close(4000, "silent");
    } catch {
      /* closing anyway */
    }
    retry("no answer from the server");
  } else if (quiet > PING_AFTER_MS) {
    ws.send('{"type":"ping"}');
  }
}

function setConn(state, detail) {
  const el = $("conn");
  if (el.dataset.state !== state) {
    el.dataset.state = state;
    el.textContent = state;
  }
  $("conn-detail").textContent = detail || "";
}

function connect() {
  link.timer = 0;
  const q = new URLSearchParams();
  st.resuming = st.lastSeq !== null;
  if (st.resuming) q.set("since", String(st.lastSeq));
  if (link.token) q.set("token", link.token);
  const qs = q.toString();
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws" + (qs ? "?" + qs : "");
  setConn(link.attempt === 0 && st.lastSeq === null ? "connecting" : "reconnecting", "");
  let ws;
  try {
    ws = new WebSocket(url);
  } catch {
    retry("cannot open a WebSocket");
    return;
  }
  link.ws = ws;
  link.lastMsg = Date.now();
  let heard = false;
  ws.onmessage = (ev) => {
    if (link.ws !== ws) return;
    heard = true;
    link.lastMsg = Date.now();
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (msg && typeof msg === "object") handle(msg, ws);
  };
  ws.onclose = (ev) => {
    if (link.ws !== ws) return;
    link.ws = null;
    retry(ev.reason || (ev.code ? "closed " + ev.code : ""));
    // A refused upgrade looks like any failed connection from here: ask
    // the API, which says 401 when the token is missing or wrong.
    if (!heard && !link.refused) getJSON("/api/market");
  };
  ws.onerror = () => {}; // a close event follows
}

function retry(reason) {
  if (link.timer) return;
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, link.attempt));
  const delay = Math.round(base * (0.75 + Math.random() * 0.5));
  link.attempt++;
  const why = (link.refused ? "token required · " : "") + (reason ? reason + " · " : "");
  setConn(link.attempt > 6 ? "disconnected" : "reconnecting", why + "retry in " + (delay / 1000).toFixed(1) + "s");
  link.timer = setTimeout(connect, delay);
}

// Drop the link now and reconnect at once (used after a reset).
function reconnectNow(ws) {
  if (link.ws === ws) link.ws = null;
  try {
    ws.close(1000, "resync");
  } catch {
    /* already closed */
  }
  clearTimeout(link.timer);
  link.timer = setTimeout(connect, 0);
}

function handle(msg, ws) {
  if (msg.event_type) {
    handleEvent(msg);
    return;
  }
  switch (msg.type) {
    case "welcome":
      link.attempt = 0;
      link.refused = false;
      setConn("connected", "");
      if (!st.resuming) {
        // A snapshot of the current state follows, stamped with this
        // sequence; live events come after it.
        st.lastSeq = Number(msg.sequence) || 0;
        markDirty("header");
      }
      loadLeaderboard();
      loadGraveyard();
      break;
    case "resume":
      if (msg.code === "unavailable") {
        note("the server keeps no history: taking its current state");
        st.lastSeq = Number(msg.sequence) || 0;
        forgetBaselines();
      } else if (msg.code === "ahead") {
        // The server's history ends before ours: it is another run (a
        // new data dir). Start again from its state.
        reset();
        note("the server's history is behind this page (a new run?): starting over");
        reconnectNow(ws);
      } else if (msg.code === "truncated") {
        note(str(msg.message));
        forgetBaselines();
      }
      break;
    case "error":
      note("server: " + str(msg.message));
      break;
    default:
      break; // pong, subscribed, and types this page does not know
  }
}

// ---------------------------------------------------------------- API

function getJSON(path) {
  const headers = { Accept: "application/json" };
  if (link.token) headers.Authorization = "Bearer " + link.token;
  return fetch(path, { cache: "no-store", headers })
    .then((r) => {
      if (r.status === 401) refused();
      return r.ok ? r.json() : null;
    })
    .catch(() => null);
}

// refused says, once, that the server wants a token this page lacks.
function refused() {
  if (link.refused) return;
  link.refused = true;
  note(
    link.token
      ? "the server refused this page's token: open it again as /#token=<the server's --token>"
      : "the server requires a token: open this page as /#token=<the server's --token>",
  );
  $("conn-detail").textContent = "token required";
}

function loadLeaderboard() {
  getJSON("/api/leaderboard").then((body) => {
    if (!body || !Array.isArray(body.winners)) return;
    for (const w of body.winners) {
      if (w && !st.winners.has(Number(w.round))) {
        st.winners.set(Number(w.round), { round: Number(w.round), winner: str(w.winner), ret: Number(w.return) || 0 });
      }
    }
    markDirty("board");
  });
}

let graveTimer = 0;
function loadGraveyard() {
  getJSON("/api/graveyard").then((body) => {
    if (!Array.isArray(body)) return;
    st.graveyard = body;
    markDirty("grave");
  });
}
// Tombstones are written once a death is durable: ask again a little
// after one is announced, and once more later in case it was slow.
function refreshGraveyardSoon() {
  if (graveTimer) return;
  graveTimer = setTimeout(() => {
    graveTimer = 0;
    loadGraveyard();
    setTimeout(loadGraveyard, 3000);
  }, 500);
}

