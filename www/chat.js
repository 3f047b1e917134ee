// The chat panel: loads the default language model on request, streams its reply token by token
// with the speed so far, and stops on demand. It shares the page's runtime (so its state, budget
// and memory map) with the embedding panel; main.js tells it when that runtime changes.
import { $, el, formatBytes, formatSeconds } from './format.js';

export const CHAT_MODEL_URL = new URL('models/SmolLM2-135M-Instruct', window.location.href).href;

/**
 * Wires the panel. `hooks.runtime()` returns the page's runtime (or null), `hooks.exclusive(action)`
 * runs an action with the page's other controls disabled, `hooks.refresh()` redraws the stats.
 * Returns `{ reset, sync }`: `reset()` forgets the model (its runtime is gone), `sync(busy)` sets
 * the buttons for whether another action is running.
 */
export function createChat(hooks) {
  const state = { model: null, messages: [], abort: null, busy: false };
  const parts = {
    load: $('chat-load'), loadStatus: $('chat-load-status'), log: $('chat-log'), form: $('chat-form'),
    input: $('chat-input'), send: $('chat-send'), stop: $('chat-stop'), max: $('chat-max'),
    status: $('chat-status'),
  };

  function sync(busy = state.busy) {
    state.busy = busy;
    const generating = state.abort !== null;
    parts.load.disabled = busy || !hooks.runtime() || state.model !== null;
    parts.send.disabled = busy || !state.model;
    parts.stop.disabled = !generating;
  }

  function reset() {
    state.abort?.abort();
    Object.assign(state, { model: null, messages: [], abort: null });
    parts.log.replaceChildren();
    parts.loadStatus.textContent = 'not loaded';
    parts.status.textContent = '';
    delete document.body.dataset.chat;
    sync();
  }

  async function load() {
    const started = performance.now();
    parts.loadStatus.textContent = 'loading…';
    state.model = await hooks.runtime().loadModel(CHAT_MODEL_URL, {
      onProgress: ({ phase, loaded, total }) => {
        parts.loadStatus.textContent = `${phase}: ${formatBytes(loaded)} of ${formatBytes(total)}`;
      },
    });
    const { fileBytes, layers, contextLength } = state.model.info;
    parts.loadStatus.textContent = `${formatBytes(fileBytes)} loaded in ${formatSeconds(performance.now() - started)};`
      + ` ${layers} layers, context ${contextLength} tokens`;
    document.body.dataset.chat = 'ready';
  }

  /** Sends the typed message with the conversation so far; the reply streams into the log. */
  async function send() {
    const content = parts.input.value.trim();
    if (!content) {
      parts.status.textContent = 'Type a message first.';
      return;
    }
    state.messages.push({ role: 'user', content });
    parts.log.append(el('li', { className: 'chat-user' }, content));
    const reply = el('li', { className: 'chat-assistant', 'aria-busy': 'true' }, '');
    parts.log.append(reply);
    parts.input.value = '';
    state.abort = new AbortController();
    sync();
    const started = performance.now();
    let tokens = 0;
    try {
      const result = await state.model.generate(state.messages, {
        maxNewTokens: Number(parts.max.value) || 64,
        signal: state.abort.signal,
        onToken: ({ text }) => {
          tokens += 1;
          reply.textContent += text;
          const seconds = (performance.now() - started) / 1000;
          parts.status.textContent = `${tokens} tokens, ${(tokens / seconds).toFixed(1)} tokens/s so far`;
        },
      });
      state.messages.push({ role: 'assistant', content: result.text });
      parts.status.textContent = describe(result);
    } catch (err) {
      state.messages.pop();
      if (err?.code !== 'ABORTED') throw err;
      reply.textContent += ' [stopped]';
      // The AbortError's `partial` is the generation so far (its token count, not the chunks heard).
      parts.status.textContent = `Stopped after ${err.partial?.tokens.length ?? tokens} tokens.`;
    } finally {
      reply.setAttribute('aria-busy', 'false');
      state.abort = null;
      document.body.dataset.chatReplies = String(state.messages.filter((m) => m.role === 'assistant').length);
    }
  }

  /** "12 tokens (length) · prompt 35 tokens in 0.40 s · 16.2 tokens/s · all 31 layers on the CPU · …". */
  function describe({ finishReason, stats }) {
    let where = `all ${stats.layers} layers resident`;
    if (stats.streamedLayers) {
      where = `${stats.streamedLayers} of ${stats.layers} layers streamed per token (${formatBytes(stats.streamedBytesPerToken)})`;
    } else if (stats.decodeSplit.nonResidentOn === 'cpu') {
      where = 'the layers the GPU does not hold ran on the CPU';
    }
    const onCpu = hooks.runtime()?.vramState === 'DISABLED' ? `all ${stats.layers} layers on the CPU` : where;
    const split = stats.decodeSplit.nonResidentOn === 'none' ? '' : ` · decode split: ${stats.decodeSplit.reason}`;
    return `${stats.generatedTokens} tokens (${finishReason}) · prompt ${stats.promptTokens} tokens in`
      + ` ${formatSeconds(stats.prefillMs)} · ${stats.decodeTokensPerS.toFixed(1)} tokens/s · ${onCpu}`
      + ` · KV cache ${formatBytes(stats.peakKvCacheBytes)}${split}`;
  }

  parts.load.addEventListener('click', () => hooks.exclusive(load));
  parts.form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!parts.send.disabled) hooks.exclusive(send);
  });
  parts.input.addEventListener('keydown', (event) => {
    if (event.key !== 'Enter' || event.shiftKey) return;
    event.preventDefault();
    parts.form.requestSubmit();
  });
  parts.stop.addEventListener('click', () => state.abort?.abort());
  reset();
  return { reset, sync };
}
