import { describe, expect, it } from "vitest";
import { normalise, peaks, seekPosition } from "./waveform";

describe("waveform", () => {
  it("takes the loudest sample of each slice", () => {
    const samples = new Float32Array([0.1, -0.9, 0.2, 0.3, 0, 0, -0.5, 0.4]);
    expect(peaks(samples, 4).map((p) => Math.round(p * 10) / 10)).toEqual([0.9, 0.3, 0, 0.5]);
    expect(peaks(new Float32Array(), 10)).toEqual([]);
  });

  it("scales quiet calls up together, keeping silence silent", () => {
    expect(normalise([[0, 0.25], [0.1, 0]])).toEqual([[0, 1], [0.4, 0]]);
    expect(normalise([[0, 0.001]])).toEqual([[0, 0.001]]);
  });

  it("turns a click into a position within the recording", () => {
    expect(seekPosition(50, 200, 8)).toBe(2);
    expect(seekPosition(-5, 200, 8)).toBe(0);
    expect(seekPosition(500, 200, 8)).toBe(8);
  });
});
