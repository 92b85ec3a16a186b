// The page's model of the arena, fed by the protocol's messages.
//
// Every event is applied once: events carry a global, gap-free "sequence";
// st.lastSeq is the last one applied, and the link resumes from it after any
// disconnect. Snapshot messages are absolute states. Applying an event only
// changes the model and marks what it changed dirty; the view draws later.

import { agentColour, fmtPct, fmtPrice, fmtQty, fmtSignedUSD, fmtUSD, str, toSeconds } from "./format.js";

export const MAX_POINTS = 600; // chart history per series
export const FEED_MAX = 150; // feed items kept in the page

export const st = {
  lastSeq: null, // last sequence applied; null before the first welcome
  resuming: false, // the open connection asked for ?since=
  symbols: new Map(), // symbol -> market state
  agents: new Map(), // id -> agent state
  born: 0, // birth-order counter
  winners: new Map(), // round number -> {round, winner, return}
  graveyard: null, // tombstones from /api/graveyard
  feed: [], // feed items waiting for the next frame
  prices: newStore(true),
  equity: newStore(false),
};

// What changed since the view last drew; "reset" means start the page over.
export const dirty = {
  reset: false, cards: false, table: false, tree: false, board: false, feed: false,
  grave: false, prices: false, equity: false, header: false,
};

// What the model calls out to: the view's scheduler, and the link's
// graveyard refresh after a death. Set once at start.
export const hooks = { schedule() {}, death() {} };

export function markDirty(...keys) {
  for (const k of keys) dirty[k] = true;
  hooks.schedule();
}

// A store keeps chart series aligned on one time axis, as uPlot wants:
// xs[i] is a time in seconds and cols.get(key)[i] the value at it.
export function newStore(carry) {
  return { xs: [], cols: new Map(), carry: carry };
}

function addPoint(store, key, t, v, alive) {
  if (!store.cols.has(key)) store.cols.set(key, new Array(store.xs.length).fill(null));
  const n = store.xs.length;
  if (n === 0 || t > store.xs[n - 1]) {
    store.xs.push(t);
    for (const [k, col] of store.cols) {
      const prev = n > 0 ? col[n - 1] : null;
      col.push(store.carry || (alive && alive(k)) ? prev : null);
    }
    if (store.xs.length > MAX_POINTS) {
      store.xs.shift();
      for (const col of store.cols.values()) col.shift();
    }
  }
  store.cols.get(key)[store.xs.length - 1] = v;
}

function agentOf(id) {
  let a = st.agents.get(id);
  if (!a) {
    a = {
      id: id, strategy: "", generation: 0, parent: "", status: "resting",
      capital: null, roi: null, trades: 0, wins: 0, win_rate: 0, scars: 0,
      trust: null, tier: "", order: st.born++, colour: agentColour(st.born - 1),
      base: null, // sequence of the last absolute state; null when unknown
    };
    st.agents.set(id, a);
    markDirty("tree");
  }
  return a;
}

// An agent event is the agent's whole state at its sequence.
function applyAgent(p, seq, snapshot, t) {
  const a = agentOf(str(p.agent_id));
  a.strategy = str(p.strategy);
  a.generation = Number(p.generation) || 0;
  if (p.parent && a.parent !== str(p.parent)) {
    a.parent = str(p.parent);
    markDirty("tree");
  }
  if (a.status !== p.status && (a.status === "deceased" || p.status === "deceased")) markDirty("tree");
  a.status = str(p.status);
  a.capital = p.capital;
  a.roi = p.roi;
  a.trades = Number(p.trades_executed) || 0;
  a.win_rate = Number(p.win_rate) || 0;
  a.wins = Math.round(a.win_rate * a.trades);
  a.scars = Number(p.scars) || 0;
  a.trust = p.trust;
  a.tier = str(p.trust_tier);
  // A snapshot's state is current, but not tied to a sequence: trades
  // after it are counted only from the agent's next own state.
  a.base = snapshot ? null : seq;
  if (a.status !== "deceased" && typeof p.capital === "number") {
    addPoint(st.equity, a.id, t, p.capital, aliveKey);
  }
  markDirty("table", "board", "equity", "header");
}

export function aliveKey(id) {
  const a = st.agents.get(id);
  return !!a && a.status !== "deceased";
}

function applyMarket(p, t) {
  const sym = str(p.symbol);
  let m = st.symbols.get(sym);
  if (!m) {
    m = { symbol: sym, index: st.symbols.size };
    st.symbols.set(sym, m);
  }
  m.price = p.price;
  m.change = p.change_percent;
  m.source = str(p.source);
  m.stale = !!p.stale;
  m.time = t;
  m.recv = Date.now();
  if (typeof p.price === "number" && p.price > 0) addPoint(st.prices, sym, t, p.price);
  markDirty("cards", "prices");
}

function applyTrade(p, seq, t) {
  const a = agentOf(str(p.agent_id));
  const net = Number(p.net_pnl) || 0;
  if (p.action === "close") {
    if (a.base !== null && seq > a.base) {
      a.trades++;
      if (net > 0) a.wins++;
      a.win_rate = a.wins / a.trades;
    }
  } else if (a.status !== "deceased") {
    a.status = "active";
  }
  const item = feedItem(seq, t, "trade", p.action === "close" ? (net > 0 ? "win" : net < 0 ? "loss" : "flat") : "open");
  item.kindText = p.action === "close" ? (net > 0 ? "WIN" : net < 0 ? "LOSS" : "EVEN") : "OPEN";
  item.parts.push(
    { text: str(p.agent_id), cls: "who" },
    { text: " " + (p.action === "close" ? "closed " : "opened ") + str(p.side) + " " + fmtQty(Math.abs(Number(p.quantity))) + " " + str(p.symbol) + " @ " + fmtPrice(p.price) },
  );
  if (p.action === "close") item.parts.push({ text: " net " }, { text: fmtSignedUSD(net), cls: "pnl" });
  if (p.reason && p.reason !== "signal") item.parts.push({ text: " (" + str(p.reason) + ")" });
  pushFeed(item);
  markDirty("table", "board");
}

function applyScar(p, seq, t) {
  const a = agentOf(str(p.agent_id));
  a.scars = Number(p.total_scars) || a.scars;
  const s = p.scar || {};
  const item = feedItem(seq, t, "scar", "");
  item.kindText = "SCAR";
  item.parts.push(
    { text: str(p.agent_id), cls: "who" },
    { text: " " + str(s.kind) + " scar, severity " + str(s.severity) + " (" + fmtPct(Number(s.magnitude) || 0, 1).replace("+", "") + ") — " + str(p.total_scars) + " in all" },
  );
  pushFeed(item);
  markDirty("table");
}

function applyDeath(p, seq, t) {
  const a = agentOf(str(p.agent_id));
  a.status = "deceased";
  a.capital = p.final_capital;
  a.scars = Number(p.scars) || 0;
  a.trades = Number(p.trades) || 0;
  a.base = seq;
  if (a.trades > 0) a.win_rate = Math.min(1, a.wins / a.trades);
  if (st.equity.cols.has(a.id)) addPoint(st.equity, a.id, t, p.final_capital, aliveKey);
  const item = feedItem(seq, t, "death", "");
  item.kindText = "DEATH";
  item.parts.push(
    { text: str(p.agent_id), cls: "who" },
    { text: " died: " + str(p.cause) + ", final " + fmtUSD(p.final_capital) + ", " + str(p.scars) + " scars, " + str(p.trades) + " trades, " + str(p.lifespan_ticks) + " ticks" },
  );
  pushFeed(item);
  hooks.death();
  markDirty("table", "tree", "board", "equity", "header");
}

function applySpawn(p, seq, t) {
  const c = agentOf(str(p.child_id));
  c.parent = str(p.parent_id);
  c.strategy = str(p.strategy);
  c.generation = Number(p.generation) || 0;
  c.capital = p.endowment;
  c.roi = 0;
  c.base = seq;
  const item = feedItem(seq, t, "spawn", "");
  item.kindText = "BIRTH";
  item.parts.push(
    { text: str(p.parent_id), cls: "who" },
    { text: " → " },
    { text: str(p.child_id), cls: "who" },
    { text: " (gen " + str(p.generation) + ", " + str(p.strategy) + "), endowment " + fmtUSD(p.endowment) },
  );
  pushFeed(item);
  markDirty("table", "tree", "board", "header");
}

function applyRound(p, seq, t) {
  st.winners.set(Number(p.round), { round: Number(p.round), winner: str(p.winner), ret: Number(p.winner_return) || 0 });
  const item = feedItem(seq, t, "round", "");
  item.kindText = "ROUND";
  item.parts.push({ text: "round " + str(p.round) + ": " });
  if (p.winner) {
    item.parts.push({ text: str(p.winner), cls: "who" }, { text: " won with " + fmtPct(Number(p.winner_return) || 0) });
  } else {
    item.parts.push({ text: "nobody alive to win" });
  }
  pushFeed(item);
  markDirty("board");
}

function feedItem(seq, t, kind, sub) {
  return { seq: seq, t: t, kind: kind, sub: sub, kindText: kind.toUpperCase(), parts: [] };
}

function pushFeed(item) {
  st.feed.push(item);
  if (st.feed.length > FEED_MAX) st.feed.splice(0, st.feed.length - FEED_MAX);
  markDirty("feed");
}

export function note(text) {
  const item = feedItem("", Date.now() / 1000, "note", "");
  item.kindText = "NOTE";
  item.parts.push({ text: text });
  pushFeed(item);
}

// Forget every agent's baseline: after a gap in the stream, counts are
// taken only from the next absolute state.
export function forgetBaselines() {
  for (const a of st.agents.values()) a.base = null;
}

// reset forgets the whole arena: the page starts over from the snapshot of
// its next connection.
export function reset() {
  st.lastSeq = null;
  st.symbols.clear();
  st.agents.clear();
  st.born = 0;
  st.winners.clear();
  st.graveyard = null;
  st.prices = newStore(true);
  st.equity = newStore(false);
  markDirty("reset", "cards", "table", "tree", "board", "grave", "prices", "equity", "header");
}

export function handleEvent(msg) {
  const seq = Number(msg.sequence) || 0;
  if (!msg.snapshot) {
    if (st.lastSeq !== null && seq <= st.lastSeq) return; // applied already
    if (st.lastSeq !== null && seq !== st.lastSeq + 1) {
      note("events " + (st.lastSeq + 1) + " to " + (seq - 1) + " were not received");
      forgetBaselines();
    }
    st.lastSeq = seq;
    markDirty("header");
  }
  const p = msg[msg.event_type];
  if (!p || typeof p !== "object") return;
  const t = toSeconds(p.timestamp);
  switch (msg.event_type) {
    case "market":
      applyMarket(p, t);
      break;
    case "agent":
      applyAgent(p, seq, !!msg.snapshot, t);
      break;
    case "trade":
      applyTrade(p, seq, t);
      break;
    case "scar":
      applyScar(p, seq, t);
      break;
    case "death":
      applyDeath(p, seq, t);
      break;
    case "spawn":
      applySpawn(p, seq, t);
      break;
    case "round":
      applyRound(p, seq, t);
      break;
    default:
      break;
  }
}
