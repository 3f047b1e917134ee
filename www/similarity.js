// The cosine-similarity matrix of the sentences the user typed, as a numbered heat-map table: the
// sentences are listed once above it, so the table stays narrow enough for a phone.
import { el } from './format.js';

/** The non-empty lines of the textarea, trimmed. */
export function sentencesFrom(text) {
  return text.split('\n').map((line) => line.trim()).filter(Boolean);
}

/** Cosine similarity of every pair (the model's vectors are normalised; dividing keeps it honest). */
export function cosineMatrix(vectors) {
  const norms = vectors.map((v) => Math.sqrt(dot(v, v)));
  return vectors.map((a, i) => vectors.map((b, j) => dot(a, b) / (norms[i] * norms[j])));
}

function dot(a, b) {
  let sum = 0;
  for (let k = 0; k < a.length; k += 1) sum += a[k] * b[k];
  return sum;
}

/** Fills `parts.list` (the numbered sentences) and `parts.table` (the matrix). */
export function renderSimilarity(parts, texts, matrix) {
  parts.list.replaceChildren(...texts.map((text) => el('li', {}, text)));
  const header = el('tr', {}, el('td'), ...texts.map((_, j) => el('th', { scope: 'col', title: texts[j] }, String(j + 1))));
  parts.table.tHead.replaceChildren(header);
  parts.table.tBodies[0].replaceChildren(...matrix.map((row, i) => el('tr', {},
    el('th', { scope: 'row', title: texts[i] }, String(i + 1)),
    ...row.map((value, j) => similarityCell(value, texts[i], texts[j])))));
}

/** A cell shaded by its value; the exact value stays in `data-value` for tests and tools. */
function similarityCell(value, a, b) {
  const cell = el('td', { title: `“${a}” ~ “${b}”: ${value.toFixed(4)}` }, value.toFixed(3));
  cell.dataset.value = String(value);
  cell.style.setProperty('--sim', String(Math.max(0, Math.min(1, value))));
  return cell;
}
