// Plays one outer step's draft clip (an animated WebP) frame by frame with a frame counter, for
// the panel's large view. An <img> plays the clip by itself but cannot say which frame it
// shows; WebCodecs' ImageDecoder (Chromium, secure contexts such as localhost) can. Where it is
// missing or fails, start() answers false and the caller shows a plain <img> instead.
// No DOM or ComfyUI imports: the decoder class, the fetch, the drawing and the timer are given
// to the constructor, so the node tests drive it with fakes.

export const CLIP_TYPE = "image/webp";

/** The counter under the large view, e.g. "frame 3/17". */
export function frameCounterText(index, count) {
  return `frame ${index + 1}/${count}`;
}

/** The fallback's line where no frame-by-frame decoder exists, e.g. "17 frames · 16 fps". */
export function clipFactsText(frames, fps) {
  const parts = [];
  if (frames) parts.push(`${frames} frames`);
  if (fps) parts.push(`${Number(fps.toFixed(2))} fps`);
  return parts.join(" · ");
}

/** The status line's words on a step's clip, e.g. "17-frame clip", with the run's clip note where
 *  the server sent one (the event's `clip_note`: a video TAE on the CPU was too slow, so the
 *  run's later clips are latent2rgb), e.g. "3-frame clip (latent2rgb clips: …)". "" for neither. */
export function clipStatusText(clip, note) {
  const label = clip?.frames ? `${clip.frames}-frame clip` : "";
  if (typeof note !== "string" || !note) return label;
  return label ? `${label} (${note})` : note;
}

/** How long frame `image` stays: its own duration (microseconds) or else 1/fps. */
export function frameDelayMs(image, fps) {
  if (Number.isFinite(image?.duration) && image.duration > 0) return image.duration / 1000;
  return 1000 / (fps > 0 ? fps : 8);
}

export class ClipPlayer {
  /**
   * url, fps: the clip; Decoder: ImageDecoder or undefined; fetchBytes(url) -> ArrayBuffer;
   * draw(image): shows one decoded frame; onFrame(index, count); onError(error): playback
   * broke after it began; schedule(fn, ms) -> handle and cancel(handle): the timer.
   */
  constructor({ url, fps, Decoder, fetchBytes, draw, onFrame, onError = () => {}, schedule, cancel }) {
    Object.assign(this, { url, fps, Decoder, fetchBytes, draw, onFrame, onError, schedule, cancel });
    this.decoder = null;
    this.timer = null;
    this.count = 0;
    this.index = 0;
    this.stopped = false;
  }

  /** True when frame-by-frame playback began; false when the caller should fall back. */
  async start() {
    if (typeof this.Decoder !== "function") return false;
    try {
      if (this.Decoder.isTypeSupported && !(await this.Decoder.isTypeSupported(CLIP_TYPE))) return false;
      const data = await this.fetchBytes(this.url);
      if (this.stopped) return true;
      this.decoder = new this.Decoder({ data, type: CLIP_TYPE });
      await this.decoder.tracks.ready;
      await this.decoder.completed;  // the whole file is in: the track knows its frame count
      this.count = this.decoder.tracks.selectedTrack?.frameCount ?? 0;
      if (this.count < 1) throw new Error("the clip has no frames");
      await this.show(0);
      return true;
    } catch (error) {
      this.release();
      if (this.stopped) return true;
      return false;
    }
  }

  async show(index) {
    if (this.stopped) return;
    const { image } = await this.decoder.decode({ frameIndex: index });
    if (this.stopped) {
      image.close?.();
      return;
    }
    this.index = index;
    this.draw(image);
    const delay = frameDelayMs(image, this.fps);
    image.close?.();
    this.onFrame(index, this.count);
    // The next frame, then from the first again: the clip loops as the filmstrip's does.
    this.timer = this.schedule(() => this.step(), delay);
  }

  async step() {
    this.timer = null;
    try {
      await this.show((this.index + 1) % this.count);
    } catch (error) {
      this.stop();
      this.onError(error);
    }
  }

  /** The view closed: no more frames, the decoder's memory is released. */
  stop() {
    this.stopped = true;
    this.release();
  }

  release() {
    if (this.timer != null) this.cancel(this.timer);
    this.timer = null;
    this.decoder?.close?.();
    this.decoder = null;
  }
}
