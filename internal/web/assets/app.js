// Lineage dashboard: the entry module. The page's model of the arena
// (js/model.js) is fed by one WebSocket in the v1 schema and the read-only
// API (js/link.js), and drawn by the view (js/view.js, js/charts.js).
//
// Rules the modules keep:
//   - Every string from the server reaches the page through textContent or
//     a text node; nothing is ever parsed as HTML.
//   - Every event is applied once: events carry a global, gap-free
//     "sequence"; the page remembers the last one it applied and resumes
//     with ?since=<it> after any disconnect, so a reconnect never counts an
//     event twice nor skips one. Snapshot messages are absolute states.
//   - Messages only change the model; the DOM is updated at most once per
//     animation frame, and the charts at most every 250 ms.
//
// Modules run after the document is parsed, and after the deferred uPlot
// script that comes before this one in index.html.
import { startCharts } from "./js/charts.js";
import { startLink } from "./js/link.js";
import { startView } from "./js/view.js";

startView();
startCharts();
startLink();
