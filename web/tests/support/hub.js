// Starts the real `hub` binary for a browser test (demo venue, embedded SQLite in a
// temporary data directory, HTTP on a free loopback port) and reads the addresses it
// prints; stops it and removes the directory afterwards. Nothing here talks to a hub the
// test did not start.
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(fileURLToPath(new URL("../../..", import.meta.url)));

/// The binary `cargo build -p hub` (or `cargo test`) leaves; `.ci/test` builds it first.
const HUB_BIN = process.env.HUB_BIN ?? join(ROOT, "target", "debug", "hub");

export const PINS = { manager: "1111", cashier: "2222", waiter: "3333", kitchen: "4444" };

/**
 * Starts a hub. `mqtt: true` also starts its embedded broker on a free loopback port.
 * Resolves once the hub printed where it listens; `hub.lines` holds everything it printed.
 */
export async function startHub({ mqtt = false, args = [] } = {}) {
  const dataDir = await mkdtemp(join(tmpdir(), "almahira-web-test-"));
  const child = spawn(
    HUB_BIN,
    ["--http", "127.0.0.1:0", "--mqtt", mqtt ? "127.0.0.1:0" : "off", "--demo", "--data-dir", dataDir, ...args],
    {
      env: { ...cleanEnv(), RUST_LOG: "warn" },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const lines = [];
  const reader = createInterface({ input: child.stdout });
  const ready = new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`the hub did not listen within 60 s:\n${lines.join("\n")}`)), 60_000);
    let http;
    reader.on("line", (line) => {
      lines.push(line);
      const listening = line.match(/^Almahira Hub listening on http:\/\/(\S+)/);
      if (listening) http = listening[1];
      const broker = line.match(/^\s+devices \(MQTT\) mqtt:\/\/(\S+)/);
      // The MQTT line follows the HTTP one; wait for it when a broker was asked for.
      if (http && (!mqtt || broker)) {
        clearTimeout(timer);
        resolvePromise({ http, mqtt: broker?.[1] });
      }
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the hub exited (${code ?? signal}) before it listened:\n${lines.join("\n")}`));
    });
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${HUB_BIN} (build it with cargo build -p hub): ${error.message}`));
    });
  });
  let addresses;
  try {
    addresses = await ready;
  } catch (error) {
    child.kill("SIGKILL");
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  const base = `http://${addresses.http}`;
  return {
    base,
    ws: `ws://${addresses.http}/ws`,
    mqtt: addresses.mqtt,
    lines,
    api: (token) => api(base, token),
    login: async (pin) => api(base, (await api(base).post("/api/v1/auth/login", { venue: "demo", pin })).access_token),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((done) => child.once("exit", done));
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/// The environment without the hub's own settings, so a developer's HUB_* or DATABASE_URL
/// cannot point a test hub at a real database.
function cleanEnv() {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith("HUB_") && key !== "DATABASE_URL") env[key] = value;
  }
  return env;
}

/// A small JSON client; `token` is sent as the bearer token. A non-2xx answer throws with
/// the hub's error body.
function api(base, token) {
  const call = async (method, path, body) => {
    const response = await fetch(base + path, {
      method,
      headers: {
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const json = text ? JSON.parse(text) : null;
    if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text}`);
    return json;
  };
  return {
    token,
    get: (path) => call("GET", path),
    post: (path, body) => call("POST", path, body),
  };
}
