// The embedding every page of the packaged-app test runs, with whichever package module it got.
export const TEXTS = ['A cat sits on the mat.', 'A kitten is resting on a rug.', 'The stock market fell sharply today.'];

/** Initialises `webvram` (a package module's namespace), loads MiniLM and embeds TEXTS. */
export async function embedWith(webvram, options) {
  await webvram.default();
  const rt = await webvram.Runtime.create(options);
  const model = await rt.loadModel('/models/all-MiniLM-L6-v2', { cache: false });
  const { system, policy } = rt.systemStats();
  return {
    vramState: rt.vramState,
    build: system.webvram_build,
    reasons: policy.reasons.map((r) => `${r.signal}: ${r.value}`),
    vectors: await model.embed(TEXTS),
  };
}
