// The view: draws the model into the page, at most once per animation
// frame and only what changed. Every server string goes in as text.

import { FEED_MAX, dirty, hooks, markDirty, st } from "./model.js";
import { fmtAge, fmtClock, fmtPct, fmtPrice, fmtRate, fmtUSD, str, symbolColour } from "./format.js";
import { renderEquity, renderPrices, resetCharts } from "./charts.js";
import { $, el, setText } from "./dom.js";

const CHART_EVERY_MS = 250; // least time between two chart redraws

const view = { cards: new Map(), rows: new Map(), sort: { key: "capital", dir: -1 }, lastChart: 0 };
let frame = 0;

// startView wires the table's headers and makes the model's changes draw.
export function startView() {
  hooks.schedule = schedule;
  $("agents").tHead.addEventListener("click", onSort);
  // Ages on the cards move even when no tick comes.
  setInterval(() => markDirty("cards"), 1000);
  markDirty("tree", "board", "grave");
}

function schedule() {
  if (!frame) frame = requestAnimationFrame(render);
}

function render(now) {
  frame = 0;
  if (dirty.reset) {
    // A new run: forget what was drawn of the old one.
    dirty.reset = false;
    view.cards.clear();
    view.rows.clear();
    $("cards").replaceChildren();
    $("agents").tBodies[0].replaceChildren();
    resetCharts();
  }
  if (dirty.header) renderHeader();
  if (dirty.cards) renderCards();
  if (dirty.table) renderTable();
  if (dirty.feed) renderFeed();
  if (dirty.board) renderBoard();
  if (dirty.tree) renderTree();
  if (dirty.grave) renderGraveyard();
  if (dirty.prices || dirty.equity) {
    if (now - view.lastChart >= CHART_EVERY_MS) {
      view.lastChart = now;
      if (dirty.prices) renderPrices();
      if (dirty.equity) renderEquity();
    } else {
      schedule();
    }
  }
}

function renderHeader() {
  dirty.header = false;
  const seq = st.lastSeq === null ? "–" : String(st.lastSeq);
  setText($("seq"), seq);
  $("app").dataset.seq = st.lastSeq === null ? "" : String(st.lastSeq);
  let living = 0;
  let dead = 0;
  for (const a of st.agents.values()) {
    if (a.status === "deceased") dead++;
    else living++;
  }
  setText($("living"), String(living));
  setText($("dead"), String(dead));
}

function renderCards() {
  dirty.cards = false;
  const box = $("cards");
  const now = Date.now();
  for (const m of st.symbols.values()) {
    let c = view.cards.get(m.symbol);
    if (!c) {
      if (view.cards.size === 0) box.replaceChildren();
      c = { root: el("div", "card") };
      c.root.dataset.symbol = m.symbol;
      const head = el("div", "sym");
      const name = el("span", "name");
      const sw = el("span", "swatch");
      sw.style.backgroundColor = symbolColour(m.index);
      name.append(sw, document.createTextNode(m.symbol));
      c.badge = el("span", "badge");
      head.append(name, c.badge);
      c.price = el("div", "price");
      c.change = el("div", "change");
      c.tick = el("span", "tick");
      c.window = el("span", "window");
      c.window.title = "change over the chart's window";
      c.change.append(c.tick, c.window);
      const meta = el("div", "meta");
      c.src = el("span", "src");
      c.age = el("span", "age");
      meta.append(c.src, c.age);
      c.root.append(head, c.price, c.change, meta);
      box.append(c.root);
      view.cards.set(m.symbol, c);
    }
    setText(c.price, fmtPrice(m.price));
    const ch = Number(m.change) || 0;
    setText(c.tick, (ch > 0 ? "▲ " : ch < 0 ? "▼ " : "■ ") + Math.abs(ch).toFixed(3) + "%");
    c.tick.className = "tick " + (ch > 0 ? "up" : ch < 0 ? "down" : "");
    const w = windowChange(m.symbol);
    setText(c.window, w === null ? "" : fmtPct(w) + " in view");
    c.window.className = "window " + (w > 0 ? "up" : w < 0 ? "down" : "");
    setText(c.src, m.source || "unknown source");
    c.src.title = m.source || "";
    setText(c.badge, m.stale ? "stale" : "live");
    c.badge.className = "badge" + (m.stale ? " stale" : "");
    c.root.classList.toggle("stale", m.stale);
    setText(c.age, fmtAge(now - m.recv));
  }
}

function windowChange(sym) {
  const col = st.prices.cols.get(sym);
  if (!col) return null;
  let first = null;
  for (const v of col) {
    if (v !== null) {
      first = v;
      break;
    }
  }
  const last = col[col.length - 1];
  if (!first || last === null || last === undefined) return null;
  return last / first - 1;
}

// The agents table: one row per agent, kept across frames; cells change
// only when their text does, and rows move only when the order does.
const COLUMNS = [
  { key: "id", cls: "name", text: (a) => a.id },
  { key: "strategy", cls: "strategy", text: (a) => a.strategy },
  { key: "capital", cls: "num", text: (a) => fmtUSD(a.capital) },
  { key: "roi", cls: "num", text: (a) => fmtPct(a.roi), tone: (a) => a.roi },
  { key: "trades", cls: "num", text: (a) => String(a.trades) },
  { key: "win_rate", cls: "num", text: (a) => (a.trades ? fmtRate(a.win_rate) : "–") },
  { key: "scars", cls: "num", text: (a) => String(a.scars), extra: (a) => (a.scars ? "scars-" + Math.min(5, a.scars) : "") },
  { key: "tier_rank", cls: "tier-cell", text: (a) => a.tier || "–", extra: (a) => "tier " + (a.tier || "None") },
  { key: "generation", cls: "num", text: (a) => String(a.generation) },
  { key: "status", cls: "status", text: (a) => a.status, extra: (a) => "status-" + a.status },
];
const TIER_RANK = { Gold: 3, Silver: 2, Bronze: 1, None: 0 };

function sortValue(a, key) {
  switch (key) {
    case "tier_rank":
      return TIER_RANK[a.tier] || 0;
    case "capital":
    case "roi":
      return typeof a[key] === "number" ? a[key] : -Infinity;
    default:
      return a[key];
  }
}

function sortedAgents() {
  const { key, dir } = view.sort;
  const list = Array.from(st.agents.values());
  list.sort((x, y) => {
    const a = sortValue(x, key);
    const b = sortValue(y, key);
    let c = 0;
    if (typeof a === "number" && typeof b === "number") c = a - b;
    else c = String(a).localeCompare(String(b));
    return c !== 0 ? c * dir : x.order - y.order;
  });
  return list;
}

function renderTable() {
  dirty.table = false;
  const body = $("agents").tBodies[0];
  const list = sortedAgents();
  for (const a of list) {
    let r = view.rows.get(a.id);
    if (!r) {
      r = { tr: el("tr"), cells: [] };
      r.tr.dataset.agent = a.id;
      for (const col of COLUMNS) {
        const td = el("td", col.cls);
        td.dataset.col = col.key;
        r.cells.push(td);
        r.tr.append(td);
      }
      view.rows.set(a.id, r);
    }
    COLUMNS.forEach((col, i) => {
      const td = r.cells[i];
      const text = col.text(a);
      setText(td, text);
      let cls = col.cls;
      if (col.tone) {
        const v = col.tone(a);
        if (v > 0) cls += " pos";
        else if (v < 0) cls += " neg";
      }
      if (col.extra) cls += " " + col.extra(a);
      if (td.className !== cls) td.className = cls;
    });
    r.cells[0].title = a.id;
    r.cells[1].title = a.strategy;
    const rowCls = a.status === "deceased" ? "deceased" : "";
    if (r.tr.className !== rowCls) r.tr.className = rowCls;
  }
  // Move rows only if the order changed.
  let i = 0;
  let same = body.children.length === list.length;
  for (const a of list) {
    if (!same) break;
    if (body.children[i++] !== view.rows.get(a.id).tr) same = false;
  }
  if (!same) {
    const frag = document.createDocumentFragment();
    for (const a of list) frag.append(view.rows.get(a.id).tr);
    body.replaceChildren(frag);
  }
}

function onSort(ev) {
  const th = ev.target.closest("th[data-key]");
  if (!th) return;
  const key = th.dataset.key;
  if (view.sort.key === key) view.sort.dir = -view.sort.dir;
  else view.sort = { key: key, dir: th.dataset.type === "num" ? -1 : 1 };
  for (const h of th.parentNode.children) {
    if (h === th) h.setAttribute("aria-sort", view.sort.dir > 0 ? "ascending" : "descending");
    else h.removeAttribute("aria-sort");
  }
  markDirty("table");
}

function renderFeed() {
  dirty.feed = false;
  if (st.feed.length === 0) return;
  const list = $("feed");
  const frag = document.createDocumentFragment();
  for (let i = st.feed.length - 1; i >= 0; i--) {
    const it = st.feed[i];
    const li = el("li", it.kind + (it.sub ? " " + it.sub : ""));
    if (it.seq !== "") li.dataset.seq = String(it.seq);
    li.append(el("time", "", fmtClock(it.t)), el("span", "kind", it.kindText));
    const text = el("span", "text");
    for (const part of it.parts) {
      if (part.cls) text.append(el("span", part.cls, part.text));
      else text.append(document.createTextNode(part.text));
    }
    li.append(text);
    frag.append(li);
  }
  st.feed.length = 0;
  list.prepend(frag);
  while (list.children.length > FEED_MAX) list.lastElementChild.remove();
}

function renderBoard() {
  dirty.board = false;
  const won = new Map();
  for (const w of st.winners.values()) if (w.winner) won.set(w.winner, (won.get(w.winner) || 0) + 1);
  // As arena.Rank: the living before the dead, then by ROI, then by birth.
  const ranked = Array.from(st.agents.values()).sort((x, y) => {
    const dx = x.status === "deceased";
    const dy = y.status === "deceased";
    if (dx !== dy) return dx ? 1 : -1;
    const c = (Number(y.roi) || 0) - (Number(x.roi) || 0);
    return c !== 0 ? c : x.order - y.order;
  });
  const lb = document.createDocumentFragment();
  for (const a of ranked.slice(0, 10)) {
    const li = el("li", a.status === "deceased" ? "dead" : "");
    const roi = el("span", "num " + (a.roi > 0 ? "pos" : a.roi < 0 ? "neg" : ""), fmtPct(a.roi));
    li.append(el("span", "who", a.id), roi);
    const n = won.get(a.id);
    if (n) li.append(el("span", "wins", "★ " + n));
    lb.append(li);
  }
  $("leaderboard").replaceChildren(lb);
  const rounds = Array.from(st.winners.values()).sort((x, y) => y.round - x.round).slice(0, 30);
  const wf = document.createDocumentFragment();
  for (const w of rounds) {
    const li = el("li");
    li.value = w.round;
    li.append(el("span", "muted", "round " + w.round), el("span", "who", w.winner || "—"), el("span", "num " + (w.ret > 0 ? "pos" : w.ret < 0 ? "neg" : ""), fmtPct(w.ret)));
    wf.append(li);
  }
  if (rounds.length === 0) wf.append(el("li", "empty", "no round has ended yet"));
  $("winners").replaceChildren(wf);
}

function renderTree() {
  dirty.tree = false;
  const kids = new Map();
  const roots = [];
  for (const a of st.agents.values()) {
    if (a.parent && st.agents.has(a.parent)) {
      if (!kids.has(a.parent)) kids.set(a.parent, []);
      kids.get(a.parent).push(a);
    } else {
      roots.push(a);
    }
  }
  const build = (list, depth) => {
    const ul = el("ul");
    for (const a of list) {
      const li = el("li");
      li.append(el("span", "node" + (a.status === "deceased" ? " deceased" : ""), a.id));
      li.append(el("span", "node-gen", "gen " + a.generation + " · " + a.strategy));
      const ch = kids.get(a.id);
      if (ch && depth < 64) li.append(build(ch, depth + 1));
      ul.append(li);
    }
    return ul;
  };
  const box = $("tree");
  if (roots.length === 0) box.replaceChildren(el("p", "empty", "no agents yet"));
  else box.replaceChildren(build(roots, 0));
}

function renderGraveyard() {
  dirty.grave = false;
  const body = $("graveyard").tBodies[0];
  const dead = Array.isArray(st.graveyard) ? st.graveyard.slice() : [];
  dead.sort((x, y) => ((y.died && y.died.sequence) || 0) - ((x.died && x.died.sequence) || 0));
  const frag = document.createDocumentFragment();
  for (const d of dead) {
    const tr = el("tr");
    tr.dataset.agent = str(d.agent_id);
    const scars = Array.isArray(d.scars) ? d.scars.length : Number(d.scars) || 0;
    tr.append(
      el("td", "name", str(d.agent_id)),
      el("td", "", str(d.cause)),
      el("td", "num", fmtUSD(d.final_capital)),
      el("td", "num", String(scars)),
      el("td", "num", str(d.trades)),
      el("td", "num", d.lifespan_ticks === undefined ? "–" : str(d.lifespan_ticks)),
    );
    frag.append(tr);
  }
  body.replaceChildren(frag);
  $("grave-empty").classList.toggle("hidden", dead.length > 0);
}
