// The large view's clip player: frame order, looping, timing from the frames' own durations,
// the counter text, the fallback answer where no decoder exists, and release on close.
// Run: node --test tests/web
import assert from "node:assert/strict";
import { test } from "node:test";

import { ClipPlayer, clipFactsText, frameCounterText, frameDelayMs } from "../../web/clip_player.js";

/** An ImageDecoder stand-in over `count` frames, each `durationUs` long (null: none given). */
function fakeDecoderClass({ count = 4, durationUs = 250000, failAt = null, supported = true } = {}) {
  const made = [];
  class FakeDecoder {
    static isTypeSupported = async (type) => supported && type === "image/webp";
    constructor({ data, type }) {
      this.data = data;
      this.type = type;
      this.closed = false;
      this.openImages = 0;
      this.tracks = { ready: Promise.resolve(), selectedTrack: { frameCount: count } };
      this.completed = Promise.resolve();
      made.push(this);
    }
    async decode({ frameIndex }) {
      if (this.closed) throw new Error("decoder closed");
      if (frameIndex === failAt) throw new Error("corrupt frame");
      this.openImages++;
      const decoder = this;
      return { image: { frameIndex, duration: durationUs, close() { decoder.openImages--; } } };
    }
    close() { this.closed = true; }
  }
  return { FakeDecoder, made };
}

/** A manual timer: run() fires the pending callback, as the page's setTimeout would. */
function manualTimer() {
  const timer = { pending: null, delays: [], cancelled: 0 };
  timer.schedule = (fn, ms) => {
    timer.pending = fn;
    timer.delays.push(ms);
    return timer.delays.length;
  };
  timer.cancel = () => {
    timer.pending = null;
    timer.cancelled++;
  };
  timer.run = async () => {
    const fn = timer.pending;
    timer.pending = null;
    await fn();
  };
  return timer;
}

function player(Decoder, timer, extra = {}) {
  const drawn = [];
  const counters = [];
  const errors = [];
  const p = new ClipPlayer({
    url: "/api/view?filename=c.webp", fps: 16, Decoder,
    fetchBytes: async (url) => `bytes of ${url}`,
    draw: (image) => drawn.push(image.frameIndex),
    onFrame: (index, count) => counters.push(frameCounterText(index, count)),
    onError: (error) => errors.push(error.message),
    schedule: timer.schedule, cancel: timer.cancel, ...extra,
  });
  return { p, drawn, counters, errors };
}

test("plays every frame in order with a counter, then loops to the first", async () => {
  const { FakeDecoder, made } = fakeDecoderClass({ count: 3 });
  const timer = manualTimer();
  const { p, drawn, counters } = player(FakeDecoder, timer);
  assert.equal(await p.start(), true);
  assert.equal(made[0].data, "bytes of /api/view?filename=c.webp");
  assert.equal(made[0].type, "image/webp");
  for (let i = 0; i < 4; i++) await timer.run();
  assert.deepEqual(drawn, [0, 1, 2, 0, 1]);
  assert.deepEqual(counters, ["frame 1/3", "frame 2/3", "frame 3/3", "frame 1/3", "frame 2/3"]);
  assert.equal(made[0].openImages, 0, "every decoded frame is closed after drawing");
});

test("each frame stays for its own duration; without one, for 1/fps", async () => {
  const timed = manualTimer();
  await player(fakeDecoderClass({ durationUs: 62500 }).FakeDecoder, timed).p.start();
  assert.deepEqual(timed.delays, [62.5]);
  const untimed = manualTimer();
  await player(fakeDecoderClass({ durationUs: null }).FakeDecoder, untimed).p.start();
  assert.deepEqual(untimed.delays, [1000 / 16]);
  assert.equal(frameDelayMs({ duration: 0 }, 0), 125, "no duration and no fps: 8 frames a second");
});

test("closing the view stops the frames and releases the decoder", async () => {
  const { FakeDecoder, made } = fakeDecoderClass({ count: 5 });
  const timer = manualTimer();
  const { p, drawn } = player(FakeDecoder, timer);
  await p.start();
  await timer.run();
  p.stop();
  assert.equal(made[0].closed, true);
  assert.equal(timer.pending, null);
  assert.equal(timer.cancelled, 1);
  assert.deepEqual(drawn, [0, 1]);
});

test("closed while the clip is still loading: no decoder is made, nothing is drawn", async () => {
  const { FakeDecoder, made } = fakeDecoderClass();
  const timer = manualTimer();
  let release;
  const { p, drawn } = player(FakeDecoder, timer, { fetchBytes: () => new Promise((r) => { release = r; }) });
  const started = p.start();
  await new Promise((resolve) => setImmediate(resolve));  // the fetch has begun
  assert.equal(typeof release, "function");
  p.stop();
  release("late bytes");
  assert.equal(await started, true, "nothing for the caller to fall back to");
  assert.equal(made.length, 0);
  assert.deepEqual(drawn, []);
});

test("no decoder, an unsupported type, a failed fetch or a first frame that fails: fall back", async () => {
  assert.equal(await player(undefined, manualTimer()).p.start(), false);
  assert.equal(await player(fakeDecoderClass({ supported: false }).FakeDecoder, manualTimer()).p.start(), false);
  const failedFetch = player(fakeDecoderClass().FakeDecoder, manualTimer(), {
    fetchBytes: async () => { throw new Error("404 for the clip"); },
  });
  assert.equal(await failedFetch.p.start(), false);
  const { FakeDecoder, made } = fakeDecoderClass({ failAt: 0 });
  assert.equal(await player(FakeDecoder, manualTimer()).p.start(), false);
  assert.equal(made[0].closed, true);
  assert.equal(await player(fakeDecoderClass({ count: 0 }).FakeDecoder, manualTimer()).p.start(), false);
});

test("a frame that fails after playback began stops the player and reports it", async () => {
  const { FakeDecoder, made } = fakeDecoderClass({ count: 4, failAt: 2 });
  const timer = manualTimer();
  const { p, drawn, errors } = player(FakeDecoder, timer);
  await p.start();
  await timer.run();
  await timer.run();
  assert.deepEqual(drawn, [0, 1]);
  assert.deepEqual(errors, ["corrupt frame"]);
  assert.equal(made[0].closed, true);
  assert.equal(timer.pending, null);
});

test("the fallback's line names the frame count and the rate", () => {
  assert.equal(clipFactsText(17, 16), "17 frames · 16 fps");
  assert.equal(clipFactsText(8, 5.333333), "8 frames · 5.33 fps");
  assert.equal(clipFactsText(8, null), "8 frames");
  assert.equal(clipFactsText(null, null), "");
});
