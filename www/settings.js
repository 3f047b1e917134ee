// The settings form ⇄ Runtime.create options ⇄ the page's query string (so a reload, or a shared
// link, keeps the chosen mode, reserve, budget and host budget).
import { MIB } from './format.js';

const FIELDS = ['vram', 'reserve', 'budget', 'host'];

/** Fills the form from `?vram=low&reserve=0&budget=24&host=64` (MiB); unknown values are left alone. */
export function settingsFromUrl(form, search = window.location.search) {
  const params = new URLSearchParams(search);
  for (const name of FIELDS) {
    const value = params.get(name);
    const field = form.elements[name];
    if (value == null) continue;
    if (field instanceof HTMLSelectElement && ![...field.options].some((o) => o.value === value)) continue;
    field.value = value;
  }
}

/** The Runtime.create options the form asks for; empty numbers mean "let webvram choose". */
export function optionsFrom(form) {
  const options = { vram: form.elements.vram.value };
  const reserve = mebibytes(form.elements.reserve.value);
  const budget = mebibytes(form.elements.budget.value);
  const host = mebibytes(form.elements.host.value);
  if (reserve != null) options.reserveVram = reserve;
  if (budget != null) options.vramBudget = budget;
  if (host != null) options.hostBudget = host;
  return options;
}

/** Writes the form into the query string without reloading (other parameters are kept). */
export function settingsToUrl(form) {
  const url = new URL(window.location.href);
  for (const name of FIELDS) {
    const value = form.elements[name].value.trim();
    const isDefault = value === '' || (name === 'vram' && value === 'auto');
    if (isDefault) url.searchParams.delete(name);
    else url.searchParams.set(name, value);
  }
  window.history.replaceState(null, '', url);
}

/** `"24"` → 25165824; `""` → null. The inputs' own constraints reject negatives before this. */
function mebibytes(text) {
  const trimmed = text.trim();
  return trimmed === '' ? null : Math.round(Number(trimmed) * MIB);
}
