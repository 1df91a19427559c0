// Runs the browser client of docs/websocket.md ("A browser client that resumes correctly"),
// taken from the document itself, in chromium against the real hub: tickets reach a grill
// screen, a bump bar moves its cursor (an ephemeral frame), the documented bump press acts,
// the socket drops and resumes. The client must confirm every ticket with a valid `seen`,
// never be refused, and the hub must raise no delivery alert.
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { promisify } from "node:util";

import { launchBrowser } from "./support/browser.js";
import { codeBlocks } from "./support/docs.js";
import { PINS, startHub } from "./support/hub.js";

const run = promisify(execFile);
/// Short, so a ticket left unconfirmed shows up as an alert within the test.
const ALERT_SECONDS = 2;

let hub;
let browser;
before(async () => {
  hub = await startHub({ mqtt: true, args: ["--delivery-alert-seconds", String(ALERT_SECONDS)] });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await hub?.stop();
});

/// Records every frame each WebSocket of the page sends and receives, without changing
/// what the client under test does.
function spyOnWebSockets() {
  const log = { sockets: [], sent: [], received: [] };
  window.__ws = log;
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      const socket = log.sockets.push(this);
      this.addEventListener("message", (e) => log.received.push({ socket, frame: JSON.parse(e.data) }));
    }
    send(data) {
      log.sent.push({ socket: log.sockets.indexOf(this) + 1, frame: JSON.parse(data) });
      super.send(data);
    }
  };
}

const frames = (page) => page.evaluate(() => ({ sent: window.__ws.sent, received: window.__ws.received }));

/// Polls the page's frame log until `check` returns something truthy (10 s at most).
async function until(page, what, check) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const log = await frames(page);
    const found = check(log);
    if (found) return found;
    if (Date.now() > deadline) {
      assert.fail(`${what} did not happen; frames:\n${JSON.stringify(log, null, 1).slice(-6000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/// The client's highest `seen` (numbers only; anything else is caught by the assertions).
const highestSeen = ({ sent }) =>
  Math.max(0, ...sent.filter((s) => s.frame.type === "seen" && Number.isInteger(s.frame.seq)).map((s) => s.frame.seq));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/// Publishes one message as a device on the hub's broker, the way docs/devices.md does.
async function publish(device, credentials, payload) {
  const [host, port] = hub.mqtt.split(":");
  await run("mosquitto_pub", [
    "-h", host, "-p", port, "-u", credentials.username, "-P", credentials.password, "-i", `${device}-test`,
    "-t", `${credentials.topic_prefix}/event`, "-m", JSON.stringify(payload),
  ]);
}

test("the documented browser client confirms every ticket and raises no delivery alert", async () => {
  const [sample] = await codeBlocks("docs/websocket.md", "A browser client that resumes correctly", "js");
  const manager = await hub.login(PINS.manager);
  const waiter = await hub.login(PINS.waiter);
  const kitchen = await hub.login(PINS.kitchen);

  const stations = await kitchen.get("/api/v1/stations");
  const grill = stations.find((s) => s.key === "grill");
  const menu = await waiter.get("/api/v1/menu");
  const grilled = menu.items.find((i) => i.available && i.stations.length === 1 && i.stations[0] === grill.id);
  assert.ok(grilled, "the demo menu has a dish made only at the grill");
  // The first options of each group the dish requires a choice from.
  const modifiers = grilled.modifier_groups
    .map((id) => menu.modifier_groups.find((g) => g.id === id))
    .flatMap((group) => group.options.slice(0, group.min_choices).map((option) => option.id));
  const floor = await waiter.get("/api/v1/floor");
  const tables = floor.areas.flatMap((a) => a.tables);
  const order = (label) =>
    waiter.post("/api/v1/orders", {
      command_id: randomUUID(),
      kind: "dine_in",
      table_id: tables.find((t) => t.label === label).id,
      guests: 2,
      lines: [{ menu_item_id: grilled.id, quantity: 1, modifiers }],
    });
  const bumpBar = await manager.post("/api/v1/devices", {
    command_id: randomUUID(), key: "bump-grill", name: "Grill bump bar", kind: "bump_bar", station_id: grill.id,
  });

  const page = await browser.page();
  await page.addInitScript(spyOnWebSockets);
  await page.goto(hub.base + "/");
  await page.addScriptTag({ content: sample });
  await page.evaluate(
    ({ url, token }) => {
      window.__shown = [];
      const show = (...what) => window.__shown.push(what);
      window.__screen = openScreen({
        url,
        token: () => token,
        channels: ["kds:grill", "alerts"],
        onSnapshot: (channel, data, f) => show("snapshot", channel, f.seq),
        onEvent: (channel, kind, data, f) => show("event", channel, kind, f.seq),
        onEphemeral: (channel, kind) => show("ephemeral", channel, kind),
        onLoggedOut: (reason) => show("logged_out", reason),
      });
    },
    { url: hub.ws, token: kitchen.token },
  );
  await until(page, "both snapshots", ({ received }) =>
    ["kds:grill", "alerts"].every((c) => received.some((r) => r.frame.type === "snapshot" && r.frame.channel === c)));

  // Two tickets reach the grill; the screen confirms them.
  const first = await order("3");
  const second = await order("4");
  const cardOf = (id) => (log) =>
    log.received.find((r) => r.frame.kind === "card_added" && r.frame.data.order_id === id)?.frame;
  const card = await until(page, "the second card", cardOf(second.id));
  await until(page, "a seen covering the second card", (log) => highestSeen(log) >= card.seq);

  // The bump bar moves its cursor: an ephemeral frame, with no seq and no prev. Its own
  // counter starts at 0, so the documented press (seq 1) below comes next.
  await publish("bump-grill", bumpBar.credentials, { msg_id: "next-0", seq: 0, event: { type: "key", key: "next" } });
  const cursor = await until(page, "the bump bar's cursor frame", ({ received }) =>
    received.find((r) => r.frame.kind === "bump_bar_cursor")?.frame);
  assert.equal(cursor.ephemeral, true);
  assert.equal(cursor.data.order_id, first.id);

  // The documented bump press (docs/devices.md), as written but for the port and secret.
  const [pressAndCall] = await codeBlocks("docs/devices.md", "Try it with mosquitto", "sh").then((blocks) =>
    blocks.filter((b) => b.includes('"key":"bump"')));
  const bumpPress = pressAndCall.split(/\n(?=mosquitto_pub)/).find((c) => c.includes("demo/bump-grill"));
  const [, port] = hub.mqtt.split(":");
  await run("sh", ["-c", bumpPress.replace("-p 1883", `-p ${port}`)], {
    env: { ...process.env, SECRET: bumpBar.credentials.password },
  });
  await until(page, "the first card bumped by the bar", ({ received }) =>
    received.some((r) => r.frame.kind === "card_bumped" && r.frame.data.order_id === first.id));

  // A ticket after the ephemeral frame is confirmed too.
  const third = await order("5");
  const thirdCard = await until(page, "the third card", cardOf(third.id));
  await until(page, "a seen covering the third card", (log) => highestSeen(log) >= thirdCard.seq);

  // The connection drops; a ticket fires while the screen is away; it resumes.
  await page.evaluate(() => window.__ws.sockets.at(-1).close());
  const fourth = await order("6");
  const resumed = await until(page, "two resumed channels on the second socket", ({ received }) => {
    const markers = received.filter((r) => r.socket === 2 && r.frame.type === "resumed");
    return markers.length === 2 && markers;
  });
  const fourthCard = await until(page, "the fourth card", cardOf(fourth.id));
  await until(page, "a seen covering the fourth card", (log) => highestSeen(log) >= fourthCard.seq);
  assert.deepEqual(resumed.map((r) => r.frame.channel).sort(), ["alerts", "kds:grill"]);

  // Longer than the alert delay: an unconfirmed ticket would have raised an alert by now.
  await sleep(ALERT_SECONDS * 1000 + 1500);
  const log = await frames(page);
  const seen = log.sent.filter((s) => s.frame.type === "seen");
  assert.ok(seen.length > 0, "the client sent seen");
  for (const { frame } of seen) {
    assert.ok(Number.isInteger(frame.seq) && frame.seq > 0, `every seen carries a seq: ${JSON.stringify(frame)}`);
  }
  const resubscribed = log.sent.filter((s) => s.socket === 2 && s.frame.type === "subscribe");
  assert.ok(resubscribed.every((s) => Number.isInteger(s.frame.since)), "the second socket resumes with since");
  const errors = log.received.filter((r) => r.frame.type === "error");
  assert.deepEqual(errors, [], "the hub refused nothing the client sent");
  const alerts = log.received.filter((r) => r.frame.kind === "delivery_alert");
  assert.deepEqual(alerts, [], "no delivery alert reached the screen");
  const journal = await manager.get("/api/v1/events?kind=delivery_alert_raised");
  assert.deepEqual(journal.events, [], "no delivery alert was raised");
  for (const { id } of [second, third, fourth]) {
    assert.deepEqual((await waiter.get(`/api/v1/orders/${id}`)).unseen_at, [], "no station left a ticket unseen");
  }
  const shown = await page.evaluate(() => window.__shown);
  assert.ok(!shown.some(([what]) => what === "logged_out"), "the client stayed logged in");
  assert.deepEqual(page.errors, [], "the page threw nothing");
});
