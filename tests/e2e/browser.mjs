// Launching Debian's Chromium for page-level tests, with or without SwiftShader's WebGPU.
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';

/** The flags in webdriver.json: one list for wasm-pack's tests and ours. */
export const WEBGPU_ARGS = JSON.parse(
  readFileSync(new URL('../../webdriver.json', import.meta.url), 'utf8'),
)['goog:chromeOptions'].args.filter((arg) => arg !== '--headless=new');

/** Flags for a browser that must not see WebGPU at all. */
export const NO_WEBGPU_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-features=WebGPU,Vulkan',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export function launch({ webgpu, extraArgs = [] }) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [...(webgpu ? WEBGPU_ARGS : NO_WEBGPU_ARGS), ...extraArgs],
  });
}

/** Open `url`, collect console errors, wait until the demo says it is ready (or failed). */
export async function openDemo(browser, url, viewport = { width: 1280, height: 900 }) {
  const page = await browser.newPage({ viewport });
  const errors = [];
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()); });
  page.on('pageerror', (err) => errors.push(String(err)));
  await page.goto(url);
  await page.waitForFunction(() => document.body.dataset.ready, null, { timeout: 120_000 });
  return { page, errors };
}
