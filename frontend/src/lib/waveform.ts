// A waveform from decoded audio: the loudest sample of each of `buckets` slices, 0..1.
export function peaks(samples: Float32Array, buckets: number): number[] {
  if (buckets <= 0 || samples.length === 0) return [];
  const out = new Array<number>(buckets).fill(0);
  const size = samples.length / buckets;
  for (let b = 0; b < buckets; b++) {
    const start = Math.floor(b * size);
    const end = Math.max(start + 1, Math.floor((b + 1) * size));
    let max = 0;
    for (let i = start; i < end && i < samples.length; i++) {
      const v = Math.abs(samples[i]);
      if (v > max) max = v;
    }
    out[b] = Math.min(1, max);
  }
  return out;
}

/** The position (seconds) a click at `x` of `width` pixels means in a recording of `duration`. */
export function seekPosition(x: number, width: number, duration: number): number {
  if (width <= 0 || !Number.isFinite(duration)) return 0;
  return Math.min(duration, Math.max(0, (x / width) * duration));
}

/** Scales every channel by the loudest peak of all, so a quiet call is still readable. */
export function normalise(channels: number[][]): number[][] {
  const loudest = Math.max(0, ...channels.flat());
  if (loudest < 0.01) return channels;
  return channels.map((wave) => wave.map((p) => p / loudest));
}
