// The charts, drawn with uPlot (the global of vendor/uplot/uPlot.iife.min.js).

import { aliveKey, dirty, markDirty, st } from "./model.js";
import { fmtClock, fmtPrice, fmtUSD, symbolColour } from "./format.js";
import { $ } from "./dom.js";

const CHART_HEIGHT = 240;

const charts = { prices: { plot: null, sig: "" }, equity: { plot: null, sig: "" } };
let normalised = true;

// The time axis reads in UTC, like every timestamp of the protocol.
function timeAxis() {
  return Object.assign(axisStyle(), {
    space: 70,
    values: (u, splits) => splits.map((t) => fmtClock(t)),
  });
}

function timeSeries() {
  return { label: "UTC", value: (u, v) => (v === null || v === undefined ? "–" : fmtClock(v)) };
}

function axisStyle() {
  return {
    stroke: "#8b96a5",
    grid: { stroke: "rgba(139,150,165,0.12)", width: 1 },
    ticks: { stroke: "rgba(139,150,165,0.25)", width: 1 },
    font: "11px system-ui, sans-serif",
  };
}

function chartWidth(box) {
  return Math.max(200, box.clientWidth || 600);
}

// draw makes or updates one uPlot chart: it is made again only when its
// series or scale change.
function draw(c, box, sig, opts, data) {
  if (typeof uPlot === "undefined") return;
  if (!c.plot || c.sig !== sig) {
    if (c.plot) c.plot.destroy();
    box.replaceChildren();
    opts.width = chartWidth(box);
    opts.height = CHART_HEIGHT;
    c.plot = new uPlot(opts, data, box);
    c.sig = sig;
  } else {
    c.plot.setData(data);
  }
}

export function renderPrices() {
  dirty.prices = false;
  const store = st.prices;
  if (store.xs.length === 0) return;
  const keys = Array.from(store.cols.keys());
  const data = [store.xs.slice()];
  for (const k of keys) {
    const col = store.cols.get(k);
    if (!normalised) {
      data.push(col.slice());
      continue;
    }
    let base = null;
    for (const v of col) {
      if (v !== null) {
        base = v;
        break;
      }
    }
    data.push(col.map((v) => (v === null || !base ? null : (v / base - 1) * 100)));
  }
  const fmt = normalised ? (v) => (v === null ? "–" : (v > 0 ? "+" : "") + v.toFixed(2) + "%") : (v) => (v === null ? "–" : fmtPrice(v));
  const opts = {
    scales: { x: { time: true }, y: normalised ? { auto: true } : { distr: 3, log: 10 } },
    series: [timeSeries()].concat(keys.map((k) => ({
      label: k,
      stroke: symbolColour(st.symbols.has(k) ? st.symbols.get(k).index : 0),
      width: 1.5,
      spanGaps: true,
      points: { show: false },
      value: (u, v) => fmt(v),
    }))),
    axes: [timeAxis(), Object.assign(axisStyle(), { size: 64, values: (u, vals) => vals.map(fmt) })],
    legend: { live: true },
    cursor: { drag: { x: true, y: false } },
  };
  draw(charts.prices, $("price-chart"), keys.join("\u0000") + "|" + normalised, opts, data);
}

export function renderEquity() {
  dirty.equity = false;
  const store = st.equity;
  if (store.xs.length === 0) return;
  // Series with no point left in the window are dropped, so the dead of
  // long ago do not crowd the chart.
  const keys = [];
  for (const [k, col] of store.cols) {
    if (col.some((v) => v !== null)) keys.push(k);
    else if (!aliveKey(k)) store.cols.delete(k);
  }
  const data = [store.xs.slice()].concat(keys.map((k) => store.cols.get(k).slice()));
  const opts = {
    scales: { x: { time: true }, y: { auto: true } },
    series: [timeSeries()].concat(keys.map((k) => ({
      label: k,
      stroke: st.agents.has(k) ? st.agents.get(k).colour : "#888",
      width: 1.25,
      spanGaps: false,
      points: { show: false },
      value: (u, v) => (v === null ? "–" : fmtUSD(v)),
    }))),
    axes: [timeAxis(), Object.assign(axisStyle(), { size: 72, values: (u, vals) => vals.map(fmtUSD) })],
    legend: { live: true },
    cursor: { drag: { x: true, y: false } },
  };
  draw(charts.equity, $("equity-chart"), keys.join("\u0000"), opts, data);
}

// startCharts wires the normalise toggle and keeps the charts as wide as
// their panels.
export function startCharts() {
  $("normalise").addEventListener("click", (ev) => {
    normalised = !normalised;
    ev.currentTarget.setAttribute("aria-pressed", String(normalised));
    ev.currentTarget.textContent = normalised ? "normalised %" : "prices (log)";
    markDirty("prices");
  });
  watchSize();
}

// resetCharts drops both charts; they are made again on the next draw.
export function resetCharts() {
  for (const c of Object.values(charts)) {
    if (c.plot) c.plot.destroy();
    c.plot = null;
    c.sig = "";
  }
}

function watchSize() {
  if (typeof ResizeObserver === "undefined") return;
  const ro = new ResizeObserver(() => {
    for (const [c, id] of [[charts.prices, "price-chart"], [charts.equity, "equity-chart"]]) {
      if (c.plot) c.plot.setSize({ width: chartWidth($(id)), height: CHART_HEIGHT });
    }
  });
  ro.observe($("price-chart"));
  ro.observe($("equity-chart"));
}
