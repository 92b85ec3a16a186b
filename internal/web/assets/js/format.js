// Formatting of numbers, times and colours. Pure functions.

const fmtCache = new Map();
function numFmt(min, max) {
  const k = min + ":" + max;
  let f = fmtCache.get(k);
  if (!f) {
    f = new Intl.NumberFormat("en-US", { minimumFractionDigits: min, maximumFractionDigits: max });
    fmtCache.set(k, f);
  }
  return f;
}
function priceDigits(p) {
  const a = Math.abs(p);
  return a >= 1000 ? 2 : a >= 1 ? 3 : a >= 0.01 ? 4 : 6;
}
export function fmtPrice(p) {
  if (typeof p !== "number" || !isFinite(p)) return "–";
  const d = priceDigits(p);
  return numFmt(d, d).format(p);
}
export function fmtUSD(v) {
  if (typeof v !== "number" || !isFinite(v)) return "–";
  return (v < 0 ? "−$" : "$") + numFmt(0, 0).format(Math.abs(v));
}
export function fmtSignedUSD(v) {
  if (typeof v !== "number" || !isFinite(v)) return "–";
  return (v > 0 ? "+$" : v < 0 ? "−$" : "$") + numFmt(2, 2).format(Math.abs(v));
}
export function fmtPct(frac, digits) {
  if (typeof frac !== "number" || !isFinite(frac)) return "–";
  const v = frac * 100;
  return (v > 0 ? "+" : v < 0 ? "−" : "") + Math.abs(v).toFixed(digits === undefined ? 2 : digits) + "%";
}
export function fmtRate(frac) {
  if (typeof frac !== "number" || !isFinite(frac)) return "–";
  return (frac * 100).toFixed(1) + "%";
}
export function fmtQty(q) {
  if (typeof q !== "number" || !isFinite(q)) return "–";
  return numFmt(0, Math.abs(q) >= 100 ? 2 : 6).format(q);
}
export function fmtClock(t) {
  const d = new Date(t * 1000);
  if (isNaN(d.getTime())) return "";
  return d.toISOString().slice(11, 19);
}
export function fmtAge(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return s + "s ago";
  if (s < 3600) return Math.floor(s / 60) + "m ago";
  return Math.floor(s / 3600) + "h ago";
}
export function toSeconds(ts) {
  const t = Date.parse(ts);
  return isNaN(t) ? Date.now() / 1000 : t / 1000;
}
export function str(v) {
  return v === undefined || v === null ? "" : String(v);
}

const PALETTE = ["#f7931a", "#8c9eff", "#14f195", "#3cc8c8", "#e6007a", "#ffd166", "#ef476f", "#06d6a0", "#b388ff", "#90be6d"];
export function symbolColour(i) {
  return PALETTE[i % PALETTE.length];
}
export function agentColour(i) {
  return "hsl(" + Math.round((i * 137.508) % 360) + ", 65%, 62%)";
}
