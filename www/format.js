// Small formatting and DOM helpers shared by the demo's modules.

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
export const MIB = 1024 * 1024;

/** `1536` → `"1.5 KiB"`; `null` → `"—"`. */
export function formatBytes(bytes) {
  if (bytes == null) return '—';
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${UNITS[unit]}`;
}

/** Milliseconds → `"0.42 s"`. */
export function formatSeconds(ms) {
  return `${(ms / 1000).toFixed(2)} s`;
}

/**
 * `el('td', { className: 'x', 'aria-hidden': 'true' }, 'text', child)`: an element with properties,
 * attributes (keys with a dash) and children.
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key.includes('-')) node.setAttribute(key, value);
    else node[key] = value;
  }
  node.append(...children.filter((child) => child != null));
  return node;
}

/** A table row of plain-text cells (the first one a row header when `header` is set). */
export function textRow(values, { header = false } = {}) {
  return el('tr', {}, ...values.map((value, i) => el(header && i === 0 ? 'th' : 'td', {}, String(value))));
}

export const $ = (id) => document.getElementById(id);
