// DOM helpers. Text goes in as text: el and setText use textContent only.

export const $ = (id) => document.getElementById(id);

export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

export function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}
